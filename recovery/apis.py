"""REST API of recovery actions: a ticket's recommendations, decisions on them, co-approvals,
and the audit trail (supervisors and admins only). Scoped like the pages."""

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ApiAuthMixin
from accounts.http import AuthedRequest
from recovery.models import AuditEvent, AuditKind, Recommendation, RecoveryAction
from recovery.proactive.models import ProactiveEntry, ProactiveStatus
from recovery.proactive.queue import (
    proactive_entry_dismiss,
    proactive_entry_send,
    proactive_entry_snooze,
)
from recovery.proactive.selectors import (
    proactive_entries_with_status_for_user,
    proactive_entry_get_for_user,
    proactive_queue_for_user,
)
from recovery.selectors import (
    audit_event_filter,
    audit_event_qs_for_user,
    recommendation_get_for_user,
    recommendation_list_for_ticket,
)
from recovery.services import (
    recommendation_add,
    recommendation_approve,
    recommendation_coapprove,
    recommendation_reject,
)
from tickets.selectors import ticket_get_for_user

MONEY: dict[str, Any] = {"max_digits": 10, "decimal_places": 2}


class RecommendationOutput(serializers.ModelSerializer[Recommendation]):
    action = serializers.SlugRelatedField[RecoveryAction](slug_field="key", read_only=True)
    action_name = serializers.CharField(source="action.name", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", default=None)
    added_by = serializers.CharField(source="added_by.username", default=None)

    class Meta:
        model = Recommendation
        fields = [
            "id",
            "ticket_id",
            "analysis_id",
            "action",
            "action_name",
            "rank",
            "score",
            "amount",
            "final_amount",
            "currency",
            "explanation",
            "evidence",
            "personalised",
            "status",
            "added_by",
            "decided_by",
            "decided_at",
            "decision_reason",
            "created_at",
        ]


class TicketRecommendationsApi(ApiAuthMixin, APIView):
    class AddInput(serializers.Serializer[Any]):
        action = serializers.SlugField(max_length=50)
        amount = serializers.DecimalField(required=False, allow_null=True, **MONEY)
        currency = serializers.CharField(required=False, max_length=3, default="")
        reason = serializers.CharField(max_length=2000)
        # Needed above RECOVERY_CONFIRM_ABOVE, as on the page: a token's caller says so.
        confirm = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="ticket_recommendations_list",
        responses=RecommendationOutput(many=True),
        summary="Recovery actions proposed or taken on a ticket",
    )
    def get(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
        return Response(
            RecommendationOutput(recommendation_list_for_ticket(ticket=ticket), many=True).data
        )

    @extend_schema(
        operation_id="ticket_recommendations_add",
        request=AddInput,
        responses={201: RecommendationOutput},
        summary="Add (and approve) an action the copilot did not suggest; a reason is required",
        description="A closed ticket answers 409. The co-approval line applies as for an approval; "
        "an amount above RECOVERY_CONFIRM_ABOVE needs `confirm: true` (else 400 naming "
        "`confirm`). An erased customer's ticket answers 400.",
    )
    def post(self, request: AuthedRequest, ticket_id: int) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
        data = self.AddInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        action = get_object_or_404(RecoveryAction, key=payload["action"], active=True)
        recommendation = recommendation_add(
            ticket=ticket,
            user=request.user,
            action=action,
            amount=payload.get("amount"),
            currency=payload["currency"],
            reason=payload["reason"],
            confirmed=payload["confirm"],
        )
        return Response(RecommendationOutput(recommendation).data, status=status.HTTP_201_CREATED)


class RecommendationDecisionApi(ApiAuthMixin, APIView):
    class DecisionInput(serializers.Serializer[Any]):
        decision = serializers.ChoiceField(choices=["approve", "reject"])
        amount = serializers.DecimalField(required=False, allow_null=True, **MONEY)
        currency = serializers.CharField(required=False, max_length=3, default="")
        reason = serializers.CharField(required=False, max_length=2000, default="")
        # Needed above RECOVERY_CONFIRM_ABOVE, as on the page: a token's caller says so.
        confirm = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=DecisionInput,
        responses=RecommendationOutput,
        summary="Approve (as proposed or with another amount) or reject a recommendation",
        description="Changing the amount or rejecting needs a reason. An amount that, with "
        "what the customer received of the action within its period on one signature alone, "
        "is above the action's co-approval line waits for a supervisor. A second decision, or "
        "an approval on a closed ticket, answers 409. Approving an amount above "
        "RECOVERY_CONFIRM_ABOVE needs `confirm: true` (else 400 naming `confirm`); nothing is "
        "approved for an erased customer (400).",
    )
    def post(self, request: AuthedRequest, recommendation_id: int) -> Response:
        recommendation = recommendation_get_for_user(
            user=request.user,
            recommendation_id=recommendation_id,
        )
        data = self.DecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        if payload["decision"] == "approve":
            recommendation = recommendation_approve(
                recommendation=recommendation,
                user=request.user,
                amount=payload.get("amount"),
                currency=payload["currency"],
                reason=payload["reason"],
                confirmed=payload["confirm"],
            )
        else:
            recommendation = recommendation_reject(
                recommendation=recommendation,
                user=request.user,
                reason=payload["reason"],
            )
        return Response(RecommendationOutput(recommendation).data)


class RecommendationCoapprovalApi(ApiAuthMixin, APIView):
    class CoapprovalInput(serializers.Serializer[Any]):
        approve = serializers.BooleanField()
        reason = serializers.CharField(required=False, max_length=2000, default="")

    @extend_schema(
        request=CoapprovalInput,
        responses=RecommendationOutput,
        summary="A supervisor co-approves or refuses an amount above the co-approval line",
    )
    def post(self, request: AuthedRequest, recommendation_id: int) -> Response:
        if not request.user.is_supervisor_role:
            raise PermissionDenied("Only supervisors co-approve.")
        recommendation = recommendation_get_for_user(
            user=request.user,
            recommendation_id=recommendation_id,
        )
        data = self.CoapprovalInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        recommendation = recommendation_coapprove(
            recommendation=recommendation,
            supervisor=request.user,
            approve=payload["approve"],
            reason=payload["reason"],
        )
        return Response(RecommendationOutput(recommendation).data)


class AuditEventOutput(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "kind",
            "actor",
            "team_id",
            "ticket_id",
            "recommendation_id",
            "analysis_id",
            "action_key",
            "intent",
            "segment",
            "proposed",
            "final",
            "reason",
            "is_override",
            "reviewed_event_id",
        ]


class AuditEventListApi(ApiAuthMixin, APIView):
    class FilterInput(serializers.Serializer[Any]):
        kind = serializers.ChoiceField(choices=AuditKind.choices, required=False, default="")
        ticket = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
        overrides = serializers.BooleanField(required=False, default=False)

    class Pagination(PageNumberPagination):
        page_size = 50
        page_size_query_param = "page_size"
        max_page_size = 500

    @extend_schema(
        parameters=[FilterInput],
        responses=AuditEventOutput(many=True),
        summary="The audit trail of your teams (supervisors and admins)",
    )
    def get(self, request: AuthedRequest) -> Response:
        if not request.user.is_supervisor_role:
            raise PermissionDenied("The audit trail is for supervisors and admins.")
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        params: dict[str, Any] = filters.validated_data
        events = audit_event_filter(
            audit_event_qs_for_user(user=request.user),
            kind=params["kind"],
            ticket_id=params.get("ticket"),
            overrides=params["overrides"],
        )
        paginator = self.Pagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOutput(page, many=True).data)


# --- the proactive queue -----------------------------------------------------------------------


class ProactiveEntryOutput(serializers.ModelSerializer[ProactiveEntry]):
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    team = serializers.CharField(source="team.slug", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", default=None)
    emerging_issue = serializers.CharField(source="emerging_issue.label", default=None)
    likelihood = serializers.SerializerMethodField()
    sent_body = serializers.CharField(source="sent_message.body", default=None)

    class Meta:
        model = ProactiveEntry
        fields = [
            "id",
            "customer_external_id",
            "customer_name",
            "team",
            "ticket_id",
            "intent",
            "likelihood",
            "reasons",
            "probability",
            "model_version",
            "window_days",
            "emerging_issue",
            "suggested_message",
            "action_key",
            "status",
            "snoozed_until",
            "decided_by",
            "decided_at",
            "sent_body",
            "wrote_again",
            "created_at",
        ]

    def get_likelihood(self, entry: ProactiveEntry) -> str:
        # The first reason is always the probability in words (see proactive_queue_refresh).
        return str(entry.reasons[0]) if entry.reasons else ""


class ProactiveQueueApi(ApiAuthMixin, APIView):
    # The shop's own messaging reads the queue (the decisions agents took, with `status=sent`)
    # with its token; it decides nothing: only staff send, snooze or dismiss.
    integration_methods = ("GET",)

    class FilterInput(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=ProactiveStatus.choices, required=False)

    @extend_schema(
        operation_id="proactive_queue",
        parameters=[FilterInput],
        responses=ProactiveEntryOutput(many=True),
        summary="The proactive queue of your teams: waiting entries, or those with a status",
        description="Customers who opted out of proactive contact or personalisation are never "
        "listed; `left_out_consent` (a header, X-Left-Out-Consent) says how many were left out.",
    )
    def get(self, request: AuthedRequest) -> Response:
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        status_filter = filters.validated_data.get("status")
        if status_filter:
            entries = proactive_entries_with_status_for_user(
                user=request.user, status=status_filter
            )
            left_out = 0
        else:
            page = proactive_queue_for_user(user=request.user)
            entries, left_out = page.entries, page.left_out_consent
        response = Response(ProactiveEntryOutput(entries, many=True).data)
        response["X-Left-Out-Consent"] = str(left_out)
        return response


class ProactiveDecisionApi(ApiAuthMixin, APIView):
    class OutreachDecisionInput(serializers.Serializer[Any]):
        decision = serializers.ChoiceField(choices=["send", "snooze", "dismiss"])
        body = serializers.CharField(required=False, max_length=5000, default="")
        days = serializers.IntegerField(required=False, min_value=1, max_value=30, default=2)
        reason = serializers.CharField(required=False, max_length=500, default="")

    @extend_schema(
        operation_id="proactive_decision",
        request=OutreachDecisionInput,
        responses=ProactiveEntryOutput,
        summary="Send, snooze or dismiss a proactive entry (send needs the message's `body`)",
        description="An entry already decided answers 409; a customer who withdrew consent "
        "answers 404, as an entry of another team.",
    )
    def post(self, request: AuthedRequest, proactive_id: int) -> Response:
        entry = proactive_entry_get_for_user(user=request.user, entry_id=proactive_id)
        data = self.OutreachDecisionInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        if payload["decision"] == "send":
            entry = proactive_entry_send(entry=entry, agent=request.user, body=payload["body"])
        elif payload["decision"] == "snooze":
            entry = proactive_entry_snooze(entry=entry, agent=request.user, days=payload["days"])
        else:
            entry = proactive_entry_dismiss(
                entry=entry, agent=request.user, reason=payload["reason"]
            )
        return Response(ProactiveEntryOutput(entry).data)
