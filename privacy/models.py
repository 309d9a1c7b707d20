"""Customers' rights: their consent records, the privacy log and their data exports.

The tables were created by the tickets app and keep their names (`db_table`): the models moved
here without moving any data (see migrations/0001_initial.py).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from tickets.consent import ConsentPurpose
from tickets.models import Customer


class ConsentRecord(models.Model):
    """One change of a customer's consent for one purpose. Append-only: the newest row per
    (customer, purpose) is the current state; with no row, consent is assumed (the shop's
    terms), and an opt-out is recorded as granted=False."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=20, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=50, help_text="Where it was given: api, admin, e-mail…")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tickets_consentrecord"
        ordering = ["customer", "purpose", "-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "purpose", "-recorded_at"], name="consent_current_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose__in=ConsentPurpose.values), name="consent_purpose_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.purpose}={'yes' if self.granted else 'no'}"


class PrivacyEventKind(models.TextChoices):
    CONSENT_CHANGED = "consent_changed", "Consent changed"
    EXPORT_REQUESTED = "export_requested", "Export requested"
    EXPORT_READY = "export_ready", "Export ready"
    EXPORT_DOWNLOADED = "export_downloaded", "Export downloaded"
    ERASED = "erased", "Customer erased"
    RETENTION = "retention", "Retention applied"


class PrivacyEvent(models.Model):
    """Append-only record of consent changes, exports and erasures, for admins.

    Never holds the personal data it is about: an erasure is recorded by the customer's row id
    and counts of what was removed, not by name or e-mail.
    """

    kind = models.CharField(max_length=20, choices=PrivacyEventKind.choices)
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="privacy_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "tickets_privacyevent"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=PrivacyEventKind.values), name="privacy_event_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.customer_id}"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class DataExport(models.Model):
    """A customer's data package (access and portability requests), built by a worker."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=ExportStatus.choices, default=ExportStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    file = models.CharField(max_length=500, blank=True, help_text="Path of the zip under var/.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tickets_dataexport"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ExportStatus.values), name="export_status_valid"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of customer {self.customer_id} ({self.status})"

    @property
    def is_in_progress(self) -> bool:
        """Still being built: the page polls for its progress."""
        return self.status in (ExportStatus.PENDING, ExportStatus.RUNNING)

    @property
    def can_download(self) -> bool:
        """Built and on disk: an admin may download it (each download is recorded)."""
        return self.status == ExportStatus.DONE
