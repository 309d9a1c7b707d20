from django.urls import path

from copilot import views

app_name = "copilot"
urlpatterns = [
    path("tickets/<id:ticket_id>/copilot/", views.panel, name="panel"),
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
]
