from django.urls import path

from tickets import views

app_name = "tickets"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("tickets/<id:ticket_id>/", views.ticket_detail, name="detail"),
    path("tickets/<id:ticket_id>/transcript/", views.ticket_transcript, name="transcript"),
    path("tickets/<id:ticket_id>/reply/", views.ticket_reply, name="reply"),
    path("tickets/<id:ticket_id>/status/", views.ticket_status, name="status"),
    path("tickets/<id:ticket_id>/assignee/", views.ticket_assignee, name="assignee"),
]
