from django.urls import path

from tickets import apis

# Mounted under the "api" namespace by config/api_urls.py, with the other apps' endpoints. The
# list of tickets (GET, and POST to open one) and posting a message are desk's (desk/apis.py).
urlpatterns = [
    path("tickets/<id:ticket_id>/", apis.TicketDetailApi.as_view(), name="ticket-detail"),
    path("customers/", apis.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<id:customer_id>/", apis.CustomerDetailApi.as_view(), name="customer-detail"),
]
