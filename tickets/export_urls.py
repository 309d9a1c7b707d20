"""Customer data exports (admins only), included by config/urls.py at "privacy/exports/"."""

from django.urls import path

from tickets import export_views as views

app_name = "exports"
urlpatterns = [
    path("customers/<int:customer_id>/", views.export_request_view, name="export-request"),
    path("<int:export_id>/", views.export_status, name="export-status"),
    path("<int:export_id>/download/", views.export_download_view, name="export-download"),
]
