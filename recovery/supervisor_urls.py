"""Supervisor pages, included by config/urls.py at "supervision/"."""

from django.urls import path

from recovery import supervisor_views as views

app_name = "supervision"
urlpatterns = [
    path("", views.override_queue, name="overrides"),
    path("overrides/<id:event_id>/review/", views.override_review_view, name="override-review"),
    path("rates/", views.override_rates, name="rates"),
    path("fairness/", views.fairness_report, name="fairness"),
]
