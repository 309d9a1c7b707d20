"""REST API for tickets, transcripts and customers: one APIView per operation. Posting a message
or opening a ticket starts the copilot's work too, so those operations are desk's (desk/apis.py),
built on the serializers here.

Scoping is the same as the pages: a ticket or customer outside the caller's teams is a 404.
A shop integration account (the shop's own systems, with an API token) may use the operations a
view lists in ``integration_methods``, in every team; it reaches nothing else.
"""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ApiAuthMixin
from accounts.http import AuthedRequest
from core.errors import DomainError
from tickets.models import (
    CUSTOMER_EMAIL_MAX,
    Customer,
    Segment,
    Ticket,
)
from tickets.selectors import (
    customer_get_for_user,
    customer_qs_for_user,
    message_list_for_ticket,
    ticket_get_for_user,
)
from tickets.services import customer_update
from tickets.text import text_clean

MAX_BODY = settings.COPILOT_MESSAGE_MAX_CHARS


class BodyField(serializers.CharField):
    """A message body: kept exactly as sent (HTML included), but never blank or oversized."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_BODY, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not text_clean(value).strip():
            raise serializers.ValidationError("A message cannot be empty.")
        return value


class CustomerOutput(serializers.ModelSerializer[Customer]):
    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "segment",
            "signup_date",
            "lifetime_spend",
            "order_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MessageOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    author_kind = serializers.CharField()
    author_name = serializers.CharField()
    author_user = serializers.CharField(source="author_user.username", default=None)
    posted_by = serializers.CharField(source="posted_by.username", default=None)
    posted_via = serializers.CharField()
    body = serializers.CharField()
    created_at = serializers.DateTimeField()


class TicketSummaryOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    external_id = serializers.CharField(allow_null=True)
    subject = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.CharField()
    team = serializers.SlugField(source="team.slug")
    company = serializers.CharField()
    assignee = serializers.CharField(source="assignee.username", default=None)
    customer = CustomerOutput()
    intent = serializers.CharField()
    transcript_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField()
    solved_at = serializers.DateTimeField(allow_null=True)


class TicketDetailOutput(TicketSummaryOutput):
    resolution = serializers.CharField()
    messages = serializers.SerializerMethodField()

    def get_messages(self, ticket: Ticket) -> list[dict[str, Any]]:
        return MessageOutput(message_list_for_ticket(ticket=ticket), many=True).data  # type: ignore[return-value]


class TicketDetailApi(ApiAuthMixin, APIView):
    @extend_schema(responses=TicketDetailOutput, summary="A ticket with its transcript")
    def get(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
        return Response(TicketDetailOutput(ticket).data)


class CustomerListApi(ApiAuthMixin, APIView):
    integration_methods = ("GET",)

    class FilterInput(serializers.Serializer[Any]):
        q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(
        parameters=[FilterInput],
        responses=CustomerOutput(many=True),
        summary="Customers who wrote to your teams",
    )
    def get(self, request: AuthedRequest) -> Response:
        customers = customer_qs_for_user(user=request.user).order_by("name", "id")
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        q = filters.validated_data["q"]
        if q:
            customers = customers.filter(name__icontains=q) | customers.filter(external_id=q)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(customers, request, view=self)
        return paginator.get_paginated_response(CustomerOutput(page, many=True).data)


class CustomerDetailApi(ApiAuthMixin, APIView):
    integration_methods = ("GET", "PATCH")

    class UpdateInput(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=200, required=False)
        email = serializers.EmailField(
            max_length=CUSTOMER_EMAIL_MAX, required=False, allow_blank=True
        )
        segment = serializers.ChoiceField(choices=Segment.choices, required=False)
        signup_date = serializers.DateField(required=False, allow_null=True)
        lifetime_spend = serializers.DecimalField(
            max_digits=12,
            decimal_places=2,
            min_value=0,
            required=False,
        )
        order_count = serializers.IntegerField(min_value=0, required=False)

    @extend_schema(responses=CustomerOutput, summary="A customer")
    def get(self, request: AuthedRequest, customer_id: int) -> Response:
        customer = customer_get_for_user(user=request.user, customer_id=customer_id)
        return Response(CustomerOutput(customer).data)

    @extend_schema(
        request=UpdateInput,
        responses=CustomerOutput,
        summary="Update a customer",
        description=(
            "Staff who see the customer may correct `name` and `email`. The value fields "
            "(`segment`, `signup_date`, `lifetime_spend`, `order_count`) come from the shop's "
            "systems: only a shop integration or an admin may change them; anyone else gets a "
            "403 naming each such field, and nothing is changed."
        ),
    )
    def patch(self, request: AuthedRequest, customer_id: int) -> Response:
        customer = customer_get_for_user(user=request.user, customer_id=customer_id)
        data = self.UpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        unknown = set(request.data) - set(self.UpdateInput().fields)
        if unknown:
            field = sorted(unknown)[0]
            raise DomainError(f"{field!r} is not a field that can be changed.", field=field)
        customer = customer_update(
            customer=customer,
            data=dict(data.validated_data),
            by=request.user,
        )
        return Response(CustomerOutput(customer).data)
