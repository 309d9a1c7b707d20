from django.urls import path

from privacy import views

app_name = "privacy"
urlpatterns = [
    path("", views.customers, name="customers"),
    path("log/", views.log, name="log"),
    path("customers/<id:customer_id>/", views.customer, name="customer"),
    path("customers/<id:customer_id>/consent/", views.consent_change, name="consent"),
    path("customers/<id:customer_id>/erase/", views.erase, name="erase"),
]
