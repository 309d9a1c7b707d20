"""REST API of the copilot: a ticket's analyses, and similar solved cases for any text.

Scoped like every other endpoint: an analysis of a ticket outside the caller's teams is a 404,
and the case search only ever returns cases of the caller's teams.
"""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ApiAuthMixin
from accounts.http import AuthedRequest
from accounts.selectors import team_ids_for_user
from copilot.engine import EngineError, get_engine
from copilot.models import MessageAnalysis
from copilot.nlp.index import IndexStoreError
from copilot.selectors import analysis_get_for_ticket, similar_cases_for_user
from tickets.apis import BodyField
from tickets.selectors import ticket_get_for_user


class SimilarCaseOutput(serializers.Serializer[Any]):
    ticket_id = serializers.IntegerField()
    similarity = serializers.FloatField()
    subject = serializers.CharField()
    resolution = serializers.CharField()


class SimilarCaseSearchOutput(serializers.Serializer[Any]):
    index_generation = serializers.IntegerField()
    results = SimilarCaseOutput(many=True)


class AnalysisOutput(serializers.ModelSerializer[MessageAnalysis]):
    similar_cases = serializers.SerializerMethodField()
    message_id = serializers.IntegerField()

    class Meta:
        model = MessageAnalysis
        fields = [
            "id",
            "transcript_version",
            "message_id",
            "status",
            "error",
            "requested_at",
            "finished_at",
            "duration_ms",
            "sentiment",
            "sentiment_score",
            "sentiment_confidence",
            "intent",
            "intent_confidence",
            "intent_candidates",
            "similar_cases",
            "draft_reply",
            "draft_reasons",
            "conversation_level",
            "conversation_score",
            "conversation_reasons",
            "model_versions",
        ]

    def get_similar_cases(self, analysis: MessageAnalysis) -> list[dict[str, Any]]:
        # Resolved for the caller: a case they may not see keeps its id and similarity only.
        cases = similar_cases_for_user(cases=analysis.similar_cases, user=self.context["user"])
        return [
            {
                "ticket_id": c.ticket_id,
                "similarity": c.similarity,
                "subject": c.subject,
                "resolution": c.resolution,
                "visible": c.visible,
            }
            for c in cases
        ]


class TicketAnalysisApi(ApiAuthMixin, APIView):
    @extend_schema(
        operation_id="ticket_analysis_latest",
        responses=AnalysisOutput,
        summary="The copilot's analysis of a ticket: the newest, or that of one version",
        parameters=[
            OpenApiParameter(
                "version",
                int,
                description="Transcript version (the message's sequence); default the newest "
                "analysis that was not superseded.",
            )
        ],
    )
    def get(self, request: AuthedRequest, ticket_id: int, version: int | None = None) -> Response:
        ticket = ticket_get_for_user(user=request.user, ticket_id=ticket_id)
        raw = request.query_params.get("version") if version is None else str(version)
        if raw is not None and not raw.isdigit():
            return Response(
                {"version": ["A positive whole number."]}, status=status.HTTP_400_BAD_REQUEST
            )
        analysis = analysis_get_for_ticket(ticket=ticket, version=int(raw) if raw else None)
        if analysis is None:
            raise Http404("No analysis of this ticket" + (f" at version {raw}" if raw else ""))
        return Response(AnalysisOutput(analysis, context={"user": request.user}).data)


class TicketAnalysisVersionApi(TicketAnalysisApi):
    @extend_schema(
        operation_id="ticket_analysis_version",
        responses=AnalysisOutput,
        summary="The copilot's analysis of one transcript version of a ticket",
    )
    def get(self, request: AuthedRequest, ticket_id: int, version: int | None = None) -> Response:
        return super().get(request, ticket_id, version)


class SimilarCaseSearchInput(serializers.Serializer[Any]):
    text = BodyField()
    k = serializers.IntegerField(min_value=1, max_value=50, default=5)
    # Only this company's cases (as on its tickets); absent: every company of the caller's teams.
    company = serializers.CharField(max_length=100, required=False, allow_blank=True)


class SimilarCaseSearchApi(ApiAuthMixin, APIView):
    @extend_schema(
        request=SimilarCaseSearchInput,
        responses={200: SimilarCaseSearchOutput, 503: None},
        summary="Solved cases most similar to a text, from the caller's teams",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = SimilarCaseSearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        user = request.user
        teams = team_ids_for_user(user=user)
        engine = get_engine()
        try:
            vector = engine.encoder.encode([payload["text"]])[0]
            hits, generation = engine.similar(
                vector, k=payload["k"], team_ids=teams, company=payload.get("company")
            )
        except (IndexStoreError, EngineError) as exc:
            return Response(
                {"detail": f"Similar-case search is unavailable: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        found = [{"ticket_id": h.id, "similarity": round(h.score, 4)} for h in hits]
        cases = similar_cases_for_user(cases=found, user=user)
        results = [
            {
                "ticket_id": c.ticket_id,
                "similarity": c.similarity,
                "subject": c.subject,
                "resolution": c.resolution,
            }
            for c in cases
            if c.visible
        ]
        return Response({"index_generation": generation, "results": results})
