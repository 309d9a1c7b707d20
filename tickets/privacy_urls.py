from django.urls import path

from tickets import privacy_views as views

app_name = "privacy"
urlpatterns = [
    path("", views.customers, name="customers"),
    path("log/", views.log, name="log"),
    path("customers/<int:customer_id>/", views.customer, name="customer"),
    path("customers/<int:customer_id>/consent/", views.consent_change, name="consent"),
    path("customers/<int:customer_id>/erase/", views.erase, name="erase"),
]
