from django.urls import path

from desk import health, proactive_views, views

app_name = "desk"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("inbox/new/", views.inbox_new_count, name="inbox-new"),
    path("inbox/views/", views.saved_view_create_view, name="saved-view-create"),
    path(
        "inbox/views/<id:view_id>/rename/", views.saved_view_rename_view, name="saved-view-rename"
    ),
    path(
        "inbox/views/<id:view_id>/delete/", views.saved_view_delete_view, name="saved-view-delete"
    ),
    path("tickets/<id:ticket_id>/", views.ticket_detail, name="ticket"),
    path("tickets/<id:ticket_id>/live/", views.ticket_live, name="ticket-live"),
    path("tickets/<id:ticket_id>/transcript/", views.ticket_transcript, name="ticket-transcript"),
    path("tickets/<id:ticket_id>/reply/", views.ticket_reply, name="ticket-reply"),
    path("tickets/<id:ticket_id>/status/", views.ticket_status, name="ticket-status"),
    path("tickets/<id:ticket_id>/assignee/", views.ticket_assignee, name="ticket-assignee"),
    path("tickets/<id:ticket_id>/copilot/", views.copilot_panel, name="copilot-panel"),
    path(
        "tickets/<id:ticket_id>/copilot/<id:analysis_id>/use/",
        views.draft_use_view,
        name="draft-use",
    ),
    path(
        "tickets/<id:ticket_id>/copilot/<id:analysis_id>/edit/",
        views.draft_edit_view,
        name="draft-edit",
    ),
    path(
        "tickets/<id:ticket_id>/copilot/<id:analysis_id>/discard/",
        views.draft_discard_view,
        name="draft-discard",
    ),
    path("tickets/<id:ticket_id>/recovery/", views.recovery_panel, name="recovery-panel"),
    path(
        "tickets/<id:ticket_id>/recovery/<id:recommendation_id>/decide/",
        views.recommendation_decide,
        name="recommendation-decide",
    ),
    path(
        "tickets/<id:ticket_id>/recovery/<id:recommendation_id>/coapprove/",
        views.recommendation_coapprove_view,
        name="recommendation-coapprove",
    ),
    path(
        "tickets/<id:ticket_id>/recovery/add/",
        views.recommendation_add_view,
        name="recommendation-add",
    ),
    path("proactive/", proactive_views.proactive_queue, name="proactive"),
    path(
        "proactive/<id:proactive_id>/decide/",
        proactive_views.proactive_decide,
        name="proactive-decide",
    ),
    # Among the supervisors' pages (recovery.supervisor_urls), but it reads the copilot too.
    path("supervision/status/", health.copilot_status_page, name="copilot-status"),
]
