"""REST API for tickets, transcripts and customers: one APIView per operation.

Scoping is the same as the pages: a ticket or customer outside the caller's teams is a 404.
A shop integration account (the shop's own systems, with an API token) may use the operations a
view lists in ``integration_methods``, in every team; it reaches nothing else.
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Team
from accounts.selectors import team_ids_for_user
from core.apis import ApiAuthMixin
from core.errors import DomainError
from tickets.models import (
    AuthorKind,
    Channel,
    Customer,
    PostedVia,
    Priority,
    Segment,
    Status,
    Ticket,
)
from tickets.selectors import (
    TicketFilters,
    customer_get_for_user,
    customer_qs_for_user,
    message_list_for_ticket,
    ticket_get_for_user,
    ticket_list_for_user,
)
from tickets.services import (
    customer_get_or_create_for_ticket,
    customer_update,
    message_post,
    ticket_create,
)
from tickets.text import text_clean

MAX_BODY = settings.COPILOT_MESSAGE_MAX_CHARS
# The column's own limit: a serializer allowing more lets the database refuse it (a 500).
CUSTOMER_EMAIL_MAX = Customer._meta.get_field("email").max_length


def _posted_via(request: Request) -> str:
    """The kind of credentials a request came with, recorded on the messages it posts."""
    user = request.user
    if user.role is None and user.is_integration:  # type: ignore[union-attr]
        return PostedVia.INTEGRATION
    return PostedVia.TOKEN if isinstance(request.auth, Token) else PostedVia.SESSION


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


class TicketListApi(ApiAuthMixin, APIView):
    integration_methods = ("POST",)

    class FilterInput(serializers.Serializer[Any]):
        status = serializers.ChoiceField(
            choices=["", "all", *Status.values], required=False, default=""
        )
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)
        team = serializers.SlugField(required=False)
        channel = serializers.ChoiceField(choices=Channel.choices, required=False)
        mine = serializers.BooleanField(required=False, default=False)
        q = serializers.CharField(required=False, max_length=200)

    class Pagination(PageNumberPagination):
        page_size_query_param = "page_size"
        max_page_size = 200

    @extend_schema(
        parameters=[FilterInput],
        responses=TicketSummaryOutput(many=True),
        summary="List tickets of your teams",
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = ticket_list_for_user(
            user=request.user, filters=TicketFilters(**filters.validated_data)
        )  # type: ignore[arg-type]
        paginator = self.Pagination()
        page = paginator.paginate_queryset(tickets, request, view=self)
        return paginator.get_paginated_response(TicketSummaryOutput(page, many=True).data)

    class CreateInput(serializers.Serializer[Any]):
        class CustomerInput(serializers.Serializer[Any]):
            external_id = serializers.CharField(max_length=100)
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
                required=False,  # type: ignore[arg-type]
            )
            order_count = serializers.IntegerField(min_value=0, required=False)

        class MessageInput(serializers.Serializer[Any]):
            body = BodyField()
            author_name = serializers.CharField(max_length=200, required=False, default="")

        customer = CustomerInput()
        team = serializers.SlugField()
        subject = serializers.CharField(max_length=settings.COPILOT_SUBJECT_MAX_CHARS)
        channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
        priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
        message = MessageInput()

    @extend_schema(
        request=CreateInput,
        responses={201: TicketDetailOutput},
        summary="Open a ticket with the customer's first message",
        description=(
            "Agents and supervisors open tickets in their teams for customers who already wrote "
            "to one of their teams. A shop integration (or an admin) opens them in any team and "
            "for any customer, creating one the shop knows and Copilot does not yet; the other "
            "customer fields are used for a new customer only."
        ),
    )
    def post(self, request: Request) -> Response:
        data = self.CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data  # type: ignore[assignment]
        team = Team.objects.filter(
            slug=payload["team"],
            id__in=team_ids_for_user(user=request.user),  # type: ignore[arg-type]
        ).first()
        if team is None:
            raise DomainError("No team of yours has this slug.", field="team", code="not_found")
        with transaction.atomic():
            customer = customer_get_or_create_for_ticket(
                by=request.user,  # type: ignore[arg-type]
                **payload["customer"],
            )
            ticket = ticket_create(
                customer=customer,
                team=team,
                subject=payload["subject"],
                channel=payload["channel"],
                priority=payload["priority"],
                body=payload["message"]["body"],
                author_name=payload["message"]["author_name"],
                created_by=request.user,  # type: ignore[arg-type]
                posted_via=_posted_via(request),
            )
        return Response(TicketDetailOutput(ticket).data, status=status.HTTP_201_CREATED)


class TicketDetailApi(ApiAuthMixin, APIView):
    @extend_schema(responses=TicketDetailOutput, summary="A ticket with its transcript")
    def get(self, request: Request, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)  # type: ignore[arg-type]
        return Response(TicketDetailOutput(ticket).data)


class MessageCreateApi(ApiAuthMixin, APIView):
    integration_methods = ("POST",)

    class InputSerializer(serializers.Serializer[Any]):
        body = BodyField()
        # System notes are Copilot's own: the API takes the customer's and agents' words only.
        author_kind = serializers.ChoiceField(
            choices=[(k, AuthorKind(k).label) for k in (AuthorKind.CUSTOMER, AuthorKind.AGENT)],
            default=AuthorKind.CUSTOMER,
        )
        author_name = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(
        request=InputSerializer,
        responses={201: MessageOutput},
        summary="Append a message to a ticket's transcript",
        description=(
            "Customer messages (the default) are queued for the copilot's analysis. An agent "
            "message is recorded as written by the caller (staff only). Every message records "
            "the account that posted it and how it signed in (`posted_by`, `posted_via`), so a "
            "customer's message posted by staff shows as posted on the customer's behalf. "
            "System notes cannot be posted. Bodies are limited to "
            f"{MAX_BODY:,} characters; HTML is stored as given and always shown escaped."
        ),
    )
    def post(self, request: Request, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)  # type: ignore[arg-type]
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data  # type: ignore[assignment]
        message = message_post(
            ticket=ticket,
            body=payload["body"],
            author_kind=payload["author_kind"],
            author_name=payload["author_name"],
            by=request.user,  # type: ignore[arg-type]
            via=_posted_via(request),
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)


class CustomerListApi(ApiAuthMixin, APIView):
    integration_methods = ("GET",)

    class FilterInput(serializers.Serializer[Any]):
        q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    @extend_schema(
        parameters=[FilterInput],
        responses=CustomerOutput(many=True),
        summary="Customers who wrote to your teams",
    )
    def get(self, request: Request) -> Response:
        customers = customer_qs_for_user(user=request.user).order_by("name", "id")  # type: ignore[arg-type]
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        q = filters.validated_data["q"]  # type: ignore[index]
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
            required=False,  # type: ignore[arg-type]
        )
        order_count = serializers.IntegerField(min_value=0, required=False)

    @extend_schema(responses=CustomerOutput, summary="A customer")
    def get(self, request: Request, customer_id: int) -> Response:
        customer = customer_get_for_user(user=request.user, customer_id=customer_id)  # type: ignore[arg-type]
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
    def patch(self, request: Request, customer_id: int) -> Response:
        customer = customer_get_for_user(user=request.user, customer_id=customer_id)  # type: ignore[arg-type]
        data = self.UpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        unknown = set(request.data) - set(self.UpdateInput().fields)
        if unknown:
            field = sorted(unknown)[0]
            raise DomainError(f"{field!r} is not a field that can be changed.", field=field)
        customer = customer_update(
            customer=customer,
            data=dict(data.validated_data),  # type: ignore[arg-type]
            by=request.user,  # type: ignore[arg-type]
        )
        return Response(CustomerOutput(customer).data)
