from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from core.display import definition_list
from recovery.models import (
    AuditEvent,
    ChurnModelRun,
    CustomerSignals,
    Recommendation,
    RecoveryAction,
    RecoveryExecution,
)
from recovery.proactive.models import EmergingIssue, ProactiveModelRun


@admin.register(RecoveryAction)
class RecoveryActionAdmin(admin.ModelAdmin):
    """The catalogue: admins add, change and retire actions (retire, not delete: past
    recommendations keep pointing at them)."""

    list_display = [
        "name",
        "key",
        "kind",
        "active",
        "default_amount",
        "max_amount",
        "customer_limit",
        "coapproval_above",
    ]
    list_filter = ["active", "kind", "monetary"]
    search_fields = ["name", "key"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the app writes itself: visible to admins, never edited or deleted here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "actor", "ticket", "action_key", "is_override"]
    list_filter = ["kind", "is_override", "team"]
    raw_id_fields = ["ticket", "recommendation", "analysis", "reviewed_event"]
    # What was proposed and done, as lists of named values rather than raw JSON.
    exclude = ["proposed", "final"]
    readonly_fields = ["proposed_details", "final_details"]

    @admin.display(description="proposed")
    def proposed_details(self, obj: AuditEvent) -> SafeString:
        return definition_list(obj.proposed)

    @admin.display(description="final")
    def final_details(self, obj: AuditEvent) -> SafeString:
        return definition_list(obj.final)


@admin.register(Recommendation)
class RecommendationAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "action", "amount", "status", "personalised", "created_at"]
    list_filter = ["status", "personalised"]
    raw_id_fields = ["ticket", "analysis"]


@admin.register(RecoveryExecution)
class RecoveryExecutionAdmin(ReadOnlyAdmin):
    list_display = ["idempotency_key", "status", "amount", "currency", "executed_at"]
    list_filter = ["status"]


@admin.register(CustomerSignals)
class CustomerSignalsAdmin(ReadOnlyAdmin):
    list_display = ["customer", "segment", "lifetime_value", "churn_risk", "computed_at"]
    list_filter = ["segment", "repeat_issue"]


@admin.register(ChurnModelRun)
class ChurnModelRunAdmin(ReadOnlyAdmin):
    """The churn model's trainings with their validation score, for admins to judge it by."""

    list_display = [
        "version",
        "trained_at",
        "n_customers",
        "n_churned",
        "validation_auc",
        "baseline_auc",
    ]


@admin.register(EmergingIssue)
class EmergingIssueAdmin(admin.ModelAdmin):
    """Detected issues: admins write the outreach message for the customers exposed to one
    (with the reply library's `{slots}`) or switch it off; the figures are the detector's."""

    list_display = ["label", "kind", "detected_on", "recent_count", "recent_total", "active"]
    list_filter = ["kind", "active"]
    readonly_fields = [
        "label",
        "kind",
        "key",
        "detected_on",
        "recent_count",
        "recent_total",
        "baseline_count",
        "baseline_total",
        "p_value",
        "ticket_ids",
    ]
    fields = [*readonly_fields, "outreach_template", "active"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ProactiveModelRun)
class ProactiveModelRunAdmin(ReadOnlyAdmin):
    """The predictor's trainings with their backtest beside the baseline."""

    list_display = [
        "version",
        "trained_at",
        "n_train",
        "n_test",
        "auc",
        "baseline_auc",
        "precision_at_20",
        "baseline_precision_at_20",
    ]
