"""Customer data exports (admins only), included by config/urls.py at "privacy/exports/"."""

from django.urls import path

from privacy import export_views as views

app_name = "exports"
urlpatterns = [
    path("customers/<id:customer_id>/", views.export_request_view, name="export-request"),
    path("<id:export_id>/", views.export_status, name="export-status"),
    path("<id:export_id>/download/", views.export_download_view, name="export-download"),
]
