from django.urls import path

from copilot import views

app_name = "replies"
urlpatterns = [
    path("", views.reply_list, name="list"),
    path("add/", views.reply_add, name="add"),
    path("<id:entry_id>/", views.reply_edit, name="edit"),
    path("<id:entry_id>/active/", views.reply_toggle, name="toggle"),
]
