"""REST API operations that bring a customer's or an agent's words in: opening a ticket and
posting a message. They start the copilot's work (a customer's message is queued for analysis,
an agent's reply is checked for unfilled slots), so they call the copilot's services and live
here, above it; the tickets and customers reads and updates stay in tickets/apis.py, whose
serializers these answer with. URLs and names are unchanged (tickets/api_urls.py).
"""

from typing import Any

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ApiAuthMixin
from accounts.http import AuthedRequest
from accounts.models import Team
from accounts.selectors import team_ids_for_user
from copilot.services.intake import message_receive, ticket_receive
from core.errors import DomainError
from tickets.apis import (
    MAX_BODY,
    BodyField,
    MessageOutput,
    TicketDetailOutput,
    TicketSummaryOutput,
)
from tickets.models import (
    COMPANY_MAX,
    CUSTOMER_EMAIL_MAX,
    AuthorKind,
    Channel,
    PostedVia,
    Priority,
    Segment,
    Status,
)
from tickets.selectors import TicketFilters, ticket_get_for_user, ticket_list_for_user
from tickets.services import customer_get_or_create_for_ticket


def _posted_via(request: AuthedRequest) -> str:
    """The kind of credentials a request came with, recorded on the messages it posts."""
    user = request.user
    if user.role is None and user.is_integration:
        return PostedVia.INTEGRATION
    return PostedVia.TOKEN if isinstance(request.auth, Token) else PostedVia.SESSION


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
    def get(self, request: AuthedRequest) -> Response:
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tickets = ticket_list_for_user(
            user=request.user, filters=TicketFilters(**filters.validated_data)
        )
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
                required=False,
            )
            order_count = serializers.IntegerField(min_value=0, required=False)

        class MessageInput(serializers.Serializer[Any]):
            body = BodyField()
            author_name = serializers.CharField(max_length=200, required=False, default="")

        customer = CustomerInput()
        team = serializers.SlugField()
        # The brand the customer wrote to: suggestions and similar cases come from its tickets.
        company = serializers.CharField(
            max_length=COMPANY_MAX, required=False, allow_blank=True, default=""
        )
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
    def post(self, request: AuthedRequest) -> Response:
        data = self.CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        team = Team.objects.filter(
            slug=payload["team"],
            id__in=team_ids_for_user(user=request.user),
        ).first()
        if team is None:
            raise DomainError("No team of yours has this slug.", field="team", code="not_found")
        with transaction.atomic():
            customer = customer_get_or_create_for_ticket(
                by=request.user,
                **payload["customer"],
            )
            ticket = ticket_receive(
                customer=customer,
                team=team,
                company=payload["company"],
                subject=payload["subject"],
                channel=payload["channel"],
                priority=payload["priority"],
                body=payload["message"]["body"],
                author_name=payload["message"]["author_name"],
                created_by=request.user,
                posted_via=_posted_via(request),
            )
        return Response(TicketDetailOutput(ticket).data, status=status.HTTP_201_CREATED)


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
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        message = message_receive(
            ticket=ticket,
            body=payload["body"],
            author_kind=payload["author_kind"],
            author_name=payload["author_name"],
            by=request.user,
            via=_posted_via(request),
        )
        return Response(MessageOutput(message).data, status=status.HTTP_201_CREATED)
