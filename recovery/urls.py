from django.urls import path

from recovery import views

app_name = "recovery"
urlpatterns = [
    path("tickets/<id:ticket_id>/recovery/", views.recommendations_panel, name="panel"),
    path(
        "tickets/<id:ticket_id>/recovery/<id:recommendation_id>/decide/",
        views.recommendation_decide,
        name="decide",
    ),
    path(
        "tickets/<id:ticket_id>/recovery/<id:recommendation_id>/coapprove/",
        views.recommendation_coapprove_view,
        name="coapprove",
    ),
    path("tickets/<id:ticket_id>/recovery/add/", views.recommendation_add_view, name="add"),
]
