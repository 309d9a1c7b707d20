"""Recovery actions: the catalogue and its policies, what the copilot recommends for a message,
what agents and supervisors decide, what was executed, and the append-only audit of it all."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Team
from copilot.models import MessageAnalysis
from tickets.models import Customer, Message, Ticket


class ActionKind(models.TextChoices):
    APOLOGY = "apology", "Apology"
    REFUND_FULL = "refund_full", "Full refund"
    REFUND_PARTIAL = "refund_partial", "Partial refund"
    STORE_CREDIT = "store_credit", "Store credit"
    REPLACEMENT = "replacement", "Replacement"
    EXPEDITED_SHIPPING = "expedited_shipping", "Expedited shipping"
    DISCOUNT = "discount", "Discount on next order"
    ESCALATION = "escalation", "Escalation to a specialist"
    CALLBACK = "callback", "Proactive callback"
    CUSTOM = "custom", "Custom"


class RecoveryAction(models.Model):
    """One entry of the admin-managed catalogue, with its policy."""

    key = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=30, choices=ActionKind.choices)
    description = models.TextField(blank=True, help_text="What the agent should tell the customer.")
    active = models.BooleanField(default=True)
    # Money: actions without an amount (apology, escalation, callback) leave these empty.
    monetary = models.BooleanField(default=False)
    default_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    max_amount = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Per action."
    )
    customer_limit = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Most money one customer may receive through this action per period.",
    )
    customer_limit_days = models.PositiveIntegerField(default=90)
    coapproval_above = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Amounts above this wait for a supervisor's co-approval.",
    )
    # Empty lists mean "any".
    intents = models.JSONField(default=list, blank=True, help_text="Intents it applies to.")
    segments = models.JSONField(default=list, blank=True, help_text="Eligible customer segments.")
    negative_only = models.BooleanField(
        default=False, help_text="Only offered when the customer is upset."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ActionKind.values), name="action_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(default_amount__isnull=True) | Q(default_amount__gte=0),
                name="action_default_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(max_amount__isnull=True) | Q(max_amount__gte=0),
                name="action_max_amount_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BehaviourSegment(models.TextChoices):
    NEW = "new", "New"
    LOYAL = "loyal", "Loyal"
    AT_RISK = "at_risk", "At risk"
    FREQUENT_CONTACT = "frequent_contact", "Frequent contact"
    REGULAR = "regular", "Regular"


class CustomerSignals(models.Model):
    """What the copilot knows about a customer, recomputed from their history by a worker."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="signals"
    )
    lifetime_value = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal(0))
    churn_risk = models.FloatField(default=0.0, help_text="0-1, from the churn model.")
    churn_model_version = models.CharField(max_length=64, blank=True)
    contacts_30d = models.PositiveIntegerField(default=0)
    repeat_issue = models.BooleanField(
        default=False, help_text="Several contacts about the same need recently."
    )
    recoveries_count = models.PositiveIntegerField(default=0)
    recoveries_positive = models.PositiveIntegerField(default=0)
    segment = models.CharField(
        max_length=20, choices=BehaviourSegment.choices, default=BehaviourSegment.REGULAR
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "customer signals"

    def __str__(self) -> str:
        return f"signals of {self.customer_id}"


class RecommendationStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    AWAITING_COAPPROVAL = "awaiting_coapproval", "Awaiting a supervisor"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXECUTED = "executed", "Executed"


# Who may move a recommendation where. Executed and rejected are final.
RECOMMENDATION_TRANSITIONS: dict[str, frozenset[str]] = {
    RecommendationStatus.PROPOSED: frozenset(
        {
            RecommendationStatus.APPROVED,
            RecommendationStatus.AWAITING_COAPPROVAL,
            RecommendationStatus.REJECTED,
        }
    ),
    RecommendationStatus.AWAITING_COAPPROVAL: frozenset(
        {RecommendationStatus.APPROVED, RecommendationStatus.REJECTED}
    ),
    RecommendationStatus.APPROVED: frozenset({RecommendationStatus.EXECUTED}),
    RecommendationStatus.REJECTED: frozenset(),
    RecommendationStatus.EXECUTED: frozenset(),
}


class Recommendation(models.Model):
    """A recovery action proposed for one analysed message (or added by an agent)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="recommendations")
    analysis = models.ForeignKey(
        MessageAnalysis,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="recommendations",
    )
    action = models.ForeignKey(RecoveryAction, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField(default=0)
    score = models.FloatField(default=0.0)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    explanation = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    personalised = models.BooleanField(default=True)
    # Added by an agent rather than proposed by the copilot.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=RecommendationStatus.choices, default=RecommendationStatus.PROPOSED
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    final_amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticket", "rank", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RecommendationStatus.values),
                name="recommendation_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="recommendation_amount_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(final_amount__isnull=True) | Q(final_amount__gte=0),
                name="recommendation_final_amount_non_negative",
            ),
            # The copilot proposes each action at most once per analysis.
            models.UniqueConstraint(
                fields=["analysis", "action"],
                condition=Q(added_by__isnull=True),
                name="recommendation_once_per_analysis",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="recommendation_status_idx")]

    def __str__(self) -> str:
        return f"{self.action} for ticket {self.ticket_id} ({self.status})"

    # What the ticket page offers on it: the rules recovery.services enforces, asked here so that
    # no template repeats them as string comparisons.

    @property
    def can_decide(self) -> bool:
        """An agent may approve (as is or changed) or reject it: a proposal, on a ticket that is
        not closed."""
        return self.status == RecommendationStatus.PROPOSED and not self.ticket.is_closed

    @property
    def can_coapprove(self) -> bool:
        """A supervisor may co-approve or refuse it: it waits for them (on a ticket closed since
        too: a co-approval completes what was decided while it was open)."""
        return self.status == RecommendationStatus.AWAITING_COAPPROVAL

    @property
    def is_decided(self) -> bool:
        """No longer a bare proposal: an agent (or the agent who added it) decided on it."""
        return self.status != RecommendationStatus.PROPOSED


# Beat re-sends the proposal task of a done analysis whose run is not recorded (the task was
# lost: the broker was down when the analysis committed, or it dropped the message): first this
# long after the analysis finished, so it does not race the task queued on commit (which runs
# within seconds), then twice as long after each re-send, at most PROPOSAL_REQUEUE_MAX_SECONDS
# apart, for analyses requested within the last PROPOSAL_REQUEUE_WINDOW_HOURS (past that the
# conversation has moved on), at most PROPOSAL_REQUEUE_BATCH per sweep.
PROPOSAL_REQUEUE_SECONDS = 60
PROPOSAL_REQUEUE_MAX_SECONDS = 30 * 60
PROPOSAL_REQUEUE_WINDOW_HOURS = 24
PROPOSAL_REQUEUE_BATCH = 200


class ProposalRun(models.Model):
    """That the copilot's proposals for a done analysis were made, and how many. None is an
    answer too (the catalogue had nothing for the message, or its customer was erased before
    the task ran): the panel stops waiting, and beat does not send the task again.

    Written by `recommendations_propose` in the transaction of its proposals. A row without
    `ran_at` is beat's count of re-sends for an analysis whose task was lost
    (`proposal_runs_requeue_missing`): the run is still owed. Holds nothing personal.
    """

    analysis = models.OneToOneField(
        MessageAnalysis, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    ran_at = models.DateTimeField(null=True, blank=True)
    proposed = models.PositiveSmallIntegerField(default=0)
    requeues = models.PositiveSmallIntegerField(default=0)
    requeued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        state = f"{self.proposed} proposed" if self.ran_at else f"owed, {self.requeues} re-sends"
        return f"proposals for analysis {self.analysis_id} ({state})"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "In progress"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# A run taken by a worker longer ago than this and not finished is taken as dead (its worker was
# killed between calling the shop and recording the answer) and may be taken over. Longer than
# any hook call may last: hooks time out well before (see recovery/hooks.py). An execution
# neither done nor failed this long after its approval is stuck: supervisors and the health
# report see it.
EXECUTION_STALE_SECONDS = 600
# Beat stops re-queuing an execution after this many runs; it stays listed as stuck for a
# person to look at (the shop keeps failing in a way the hook does not name, say).
EXECUTION_MAX_ATTEMPTS = 20


class RecoveryExecution(models.Model):
    """An approved action carried out: at most one per recommendation (the idempotency key).

    Created when the action is approved, in the same transaction; the shop's hook is called by a
    worker after commit, with the idempotency key, so a retry never pays twice. Pending until a
    worker takes it, in progress while the hook is called (outside any transaction), then done,
    or failed when the shop refused for good.
    """

    recommendation = models.OneToOneField(
        Recommendation, on_delete=models.PROTECT, related_name="execution"
    )
    idempotency_key = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(
        max_length=10, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When its task was last handed to the broker, and when a worker last took it: beat
    # re-queues an execution whose task was lost, or whose worker died mid-run.
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Outcome, filled in later from what happened next (feeds the ranking): None = not known yet.
    reopened = models.BooleanField(null=True, blank=True)
    positive_reply = models.BooleanField(null=True, blank=True)
    outcome_checked_at = models.DateTimeField(null=True, blank=True)
    # What the shop's hook answered (a refund id, say).
    result = models.JSONField(default=dict, blank=True)
    transcript_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["status", "queued_at"], name="execution_status_idx")]

    def __str__(self) -> str:
        return f"execution {self.idempotency_key}"


class AuditKind(models.TextChoices):
    DRAFT_DECIDED = "draft_decided", "Draft decided"
    RECOMMENDATION_SHOWN = "recommendation_shown", "Recommendation shown"
    RECOMMENDATION_APPROVED = "recommendation_approved", "Recommendation approved"
    RECOMMENDATION_EDITED = "recommendation_edited", "Recommendation approved with changes"
    RECOMMENDATION_REJECTED = "recommendation_rejected", "Recommendation rejected"
    RECOMMENDATION_ADDED = "recommendation_added", "Action added by agent"
    COAPPROVAL_REQUESTED = "coapproval_requested", "Co-approval requested"
    COAPPROVED = "coapproved", "Co-approved"
    COAPPROVAL_REFUSED = "coapproval_refused", "Co-approval refused"
    EXECUTED = "executed", "Executed"
    OVERRIDE_REVIEWED = "override_reviewed", "Override reviewed"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise PermissionError("Audit events are append-only.")

    def redact_for_erasure(self) -> int:
        """The one change the trail allows: a customer's erasure removes the personal text it
        holds (reasons, quoted drafts, explanations), keeping who decided what and when."""
        return super().update(reason="[erased]", proposed={}, final={})

    def redact_text_for_erasure(self, redact: Callable[[Any], Any]) -> int:
        """The same change for events about other customers that quote an erased one (a draft
        built from the erased customer's solved case, say): `redact` replaces the identifiers
        in the reason and in each text of `proposed` and `final`; the rest is kept as it was.
        Returns how many events changed."""
        changed = 0
        for pk, *texts in self.values_list("pk", "reason", "proposed", "final"):
            redacted = [redact(t) for t in texts]
            if redacted != texts:
                reason, proposed, final = redacted
                changed += models.QuerySet.update(
                    self.model.objects.filter(pk=pk), reason=reason, proposed=proposed, final=final
                )
        return changed

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")


class AuditEvent(models.Model):
    """Every suggestion shown and every decision on it: who, when, what the copilot proposed,
    what was done, and why. Append-only: rows are created by `recovery.events` and never
    changed or deleted through the app (the admin shows them read-only)."""

    kind = models.CharField(max_length=30, choices=AuditKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey(Ticket, on_delete=models.PROTECT, related_name="audit_events")
    recommendation = models.ForeignKey(
        Recommendation, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    analysis = models.ForeignKey(
        MessageAnalysis, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # For override statistics without joins: the action, the message's intent, the segment.
    action_key = models.CharField(max_length=50, blank=True)
    intent = models.CharField(max_length=100, blank=True)
    segment = models.CharField(max_length=20, blank=True)
    proposed = models.JSONField(default=dict, blank=True)
    final = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    # An agent went against the copilot (rejected, changed, or added an action of their own).
    is_override = models.BooleanField(default=False)
    # For OVERRIDE_REVIEWED: the event reviewed.
    reviewed_event = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reviews"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AuditKind.values), name="audit_kind_valid"),
            # An override is reviewed once; a second supervisor racing the first gets a Conflict.
            models.UniqueConstraint(
                fields=["reviewed_event"],
                condition=Q(kind="override_reviewed"),
                name="audit_review_once",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "is_override", "-created_at"], name="audit_override_idx"),
            models.Index(fields=["kind", "-created_at"], name="audit_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on ticket {self.ticket_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")


class ChurnModelRun(models.Model):
    """One training of the churn model: what it was trained on and how well it validated.
    The newest row is the model in use; admins see these in the admin."""

    version = models.CharField(max_length=64, unique=True)
    trained_at = models.DateTimeField(auto_now_add=True)
    n_customers = models.PositiveIntegerField()
    n_churned = models.PositiveIntegerField()
    validation_auc = models.FloatField(null=True, blank=True)
    baseline_auc = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)  # features, coefficients, split, cutoff

    class Meta:
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"churn model {self.version}"


# Predictive support's rows live beside their code; imported here so they belong to this app.
from recovery.proactive.models import (  # noqa: E402, F401
    EmergingIssue,
    EmergingIssueKind,
    ProactiveDecision,
    ProactiveDecisionKind,
    ProactiveEntry,
    ProactiveModelRun,
    ProactiveQueueRun,
    ProactiveStatus,
)
