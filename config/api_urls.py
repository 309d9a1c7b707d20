"""Every REST endpoint under /api/, in one URL namespace ("api") across the apps."""

from django.urls import path

from copilot import apis as copilot_apis
from desk import apis as desk_apis
from privacy import apis as privacy_apis
from recovery import apis as recovery_apis
from tickets.api_urls import urlpatterns as ticket_urlpatterns

app_name = "api"
urlpatterns = [
    path("tickets/", desk_apis.TicketListApi.as_view(), name="ticket-list"),
    *ticket_urlpatterns,
    path(
        "tickets/<id:ticket_id>/messages/",
        desk_apis.MessageCreateApi.as_view(),
        name="message-create",
    ),
    path(
        "tickets/<id:ticket_id>/analysis/",
        copilot_apis.TicketAnalysisApi.as_view(),
        name="ticket-analysis",
    ),
    path(
        "tickets/<id:ticket_id>/analysis/<id:version>/",
        copilot_apis.TicketAnalysisVersionApi.as_view(),
        name="ticket-analysis-version",
    ),
    path(
        "similar-cases/search/",
        copilot_apis.SimilarCaseSearchApi.as_view(),
        name="similar-case-search",
    ),
    path(
        "tickets/<id:ticket_id>/recommendations/",
        recovery_apis.TicketRecommendationsApi.as_view(),
        name="ticket-recommendations",
    ),
    path(
        "recommendations/<id:recommendation_id>/decision/",
        recovery_apis.RecommendationDecisionApi.as_view(),
        name="recommendation-decision",
    ),
    path(
        "recommendations/<id:recommendation_id>/coapproval/",
        recovery_apis.RecommendationCoapprovalApi.as_view(),
        name="recommendation-coapproval",
    ),
    path("audit-events/", recovery_apis.AuditEventListApi.as_view(), name="audit-event-list"),
    path("proactive/", recovery_apis.ProactiveQueueApi.as_view(), name="proactive-queue"),
    path(
        "proactive/<id:proactive_id>/decision/",
        recovery_apis.ProactiveDecisionApi.as_view(),
        name="proactive-decision",
    ),
    path(
        "customers/<id:customer_id>/consents/",
        privacy_apis.CustomerConsentApi.as_view(),
        name="customer-consents",
    ),
]
