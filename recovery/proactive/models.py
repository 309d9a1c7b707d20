"""The rows of predictive support: trained model runs, the proactive queue and its decisions,
and the emerging issues detected. Imported by `recovery.models`, so they belong to that app."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Team
from tickets.models import Customer, Message, Ticket


class ProactiveModelRun(models.Model):
    """One training of the "likely to write again" predictor, with its backtest figures. The
    newest row is the model in use: its coefficients and calibration are in `details`."""

    version = models.CharField(max_length=64, unique=True)
    trained_at = models.DateTimeField(auto_now_add=True)
    n_train = models.PositiveIntegerField()
    n_test = models.PositiveIntegerField()
    auc = models.FloatField(null=True, blank=True)
    baseline_auc = models.FloatField(null=True, blank=True)
    precision_at_20 = models.FloatField(null=True, blank=True)
    baseline_precision_at_20 = models.FloatField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-trained_at", "-id"]

    def __str__(self) -> str:
        return f"proactive model {self.version}"


class EmergingIssueKind(models.TextChoices):
    INTENT_RISE = "intent_rise", "Intent rising above its usual share"
    NEW_CLUSTER = "new_cluster", "New requests no intent covers"


class EmergingIssue(models.Model):
    """A topic detected as rising on a day. Admins may write the outreach message used for the
    customers exposed to it (`outreach_template`, with the reply library's `{slots}`)."""

    kind = models.CharField(max_length=20, choices=EmergingIssueKind.choices)
    key = models.CharField(max_length=100)  # the intent, or a cluster's stable key
    label = models.CharField(max_length=200)
    detected_on = models.DateField()
    recent_count = models.PositiveIntegerField()
    recent_total = models.PositiveIntegerField()
    baseline_count = models.PositiveIntegerField(default=0)
    baseline_total = models.PositiveIntegerField(default=0)
    p_value = models.FloatField(null=True, blank=True)
    ticket_ids = models.JSONField(default=list, blank=True)  # a few of the recent tickets
    outreach_template = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-detected_on", "kind", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key", "detected_on"], name="emerging_issue_once_a_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"


class ProactiveStatus(models.TextChoices):
    OPEN = "open", "To decide"
    SENT = "sent", "Sent"
    SNOOZED = "snoozed", "Snoozed"
    DISMISSED = "dismissed", "Dismissed"
    # Nobody decided within the window: the moment for a first contact has passed.
    EXPIRED = "expired", "Expired"


# Entries still waiting for an agent: one per customer at most (a database constraint).
WAITING = (ProactiveStatus.OPEN, ProactiveStatus.SNOOZED)
PROACTIVE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    ProactiveStatus.OPEN: (
        ProactiveStatus.SENT,
        ProactiveStatus.SNOOZED,
        ProactiveStatus.DISMISSED,
    ),
    ProactiveStatus.SNOOZED: (
        ProactiveStatus.SENT,
        ProactiveStatus.SNOOZED,
        ProactiveStatus.DISMISSED,
    ),
    ProactiveStatus.SENT: (),
    ProactiveStatus.DISMISSED: (),
    ProactiveStatus.EXPIRED: (),
}


class ProactiveEntry(models.Model):
    """One customer on the proactive queue: why, what to send, and what became of it."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    # The ticket the concern is about (their latest solved one, or the one exposing them to an
    # emerging issue); the outreach is written on it, or on a new ticket when it is closed.
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    emerging_issue = models.ForeignKey(
        EmergingIssue, on_delete=models.SET_NULL, null=True, blank=True, related_name="entries"
    )
    probability = models.FloatField()  # calibrated, of writing again within `window_days`
    model_version = models.CharField(max_length=64)
    window_days = models.PositiveSmallIntegerField(default=7)
    reasons = models.JSONField(default=list, blank=True)  # plain-language strings
    intent = models.CharField(max_length=100, blank=True)
    suggested_message = models.TextField(blank=True)
    message_source = models.CharField(max_length=100, blank=True)  # "reply:12", "issue:3"...
    action_key = models.CharField(max_length=50, blank=True)  # what the policy allows, if any
    status = models.CharField(
        max_length=10, choices=ProactiveStatus.choices, default=ProactiveStatus.OPEN
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    sent_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Did the customer write again within the window after the decision (or after the entry
    # was made, when nobody decided)? Filled once the window is over; the next training reads it.
    wrote_again = models.BooleanField(null=True, blank=True)
    outcome_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-probability", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status__in=["open", "snoozed"]),
                name="proactive_entry_one_waiting_per_customer",
            ),
            models.CheckConstraint(
                condition=Q(probability__gte=0) & Q(probability__lte=1),
                name="proactive_entry_probability_0_1",
            ),
        ]
        indexes = [models.Index(fields=["team", "status"], name="proactive_team_status_idx")]

    def __str__(self) -> str:
        return f"proactive entry {self.pk} ({self.status})"


class ProactiveQueueRun(models.Model):
    """One refresh of the queue, per team: how many customers it put on the queue, and how many
    it left out because they opted out of proactive contact or of personalisation."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    model_version = models.CharField(max_length=64)
    # {team id (str): {"candidates": n, "entries": n, "left_out_consent": n}}
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"proactive queue run {self.ran_at:%Y-%m-%d %H:%M}"


class ProactiveDecisionKind(models.TextChoices):
    SENT = "sent", "Sent as suggested"
    EDITED = "edited", "Edited and sent"
    SNOOZED = "snoozed", "Snoozed"
    DISMISSED = "dismissed", "Dismissed"


class ProactiveDecision(models.Model):
    """Append-only audit of what an agent did with a queue entry (one row per choice)."""

    entry = models.ForeignKey(ProactiveEntry, on_delete=models.CASCADE, related_name="decisions")
    kind = models.CharField(max_length=10, choices=ProactiveDecisionKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(blank=True)  # what was sent
    reason = models.TextField(blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on proactive entry {self.entry_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("Proactive decisions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("Proactive decisions are append-only.")
