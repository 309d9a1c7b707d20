from django.urls import path

from recovery import views

app_name = "recovery"
urlpatterns = [
    path("tickets/<int:ticket_id>/recovery/", views.recommendations_panel, name="panel"),
    path(
        "tickets/<int:ticket_id>/recovery/<int:recommendation_id>/decide/",
        views.recommendation_decide,
        name="decide",
    ),
    path(
        "tickets/<int:ticket_id>/recovery/<int:recommendation_id>/coapprove/",
        views.recommendation_coapprove_view,
        name="coapprove",
    ),
    path("tickets/<int:ticket_id>/recovery/add/", views.recommendation_add_view, name="add"),
]
