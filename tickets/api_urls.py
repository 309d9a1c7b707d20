from django.urls import path

from tickets import apis

# Mounted under the "api" namespace by config/api_urls.py, with the other apps' endpoints.
urlpatterns = [
    path("tickets/", apis.TicketListApi.as_view(), name="ticket-list"),
    path("tickets/<id:ticket_id>/", apis.TicketDetailApi.as_view(), name="ticket-detail"),
    path(
        "tickets/<id:ticket_id>/messages/", apis.MessageCreateApi.as_view(), name="message-create"
    ),
    path("customers/", apis.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<id:customer_id>/", apis.CustomerDetailApi.as_view(), name="customer-detail"),
]
