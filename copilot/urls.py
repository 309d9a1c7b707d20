from django.urls import path

from copilot import views

app_name = "copilot"
urlpatterns = [
    path("tickets/<int:ticket_id>/copilot/", views.panel, name="panel"),
    path(
        "tickets/<int:ticket_id>/copilot/<int:analysis_id>/use/",
        views.draft_use_view,
        name="draft-use",
    ),
    path(
        "tickets/<int:ticket_id>/copilot/<int:analysis_id>/edit/",
        views.draft_edit_view,
        name="draft-edit",
    ),
    path(
        "tickets/<int:ticket_id>/copilot/<int:analysis_id>/discard/",
        views.draft_discard_view,
        name="draft-discard",
    ),
]
