from django.db import models
from django.db.models import Q

from tickets.models import Message, Ticket


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Awaiting analysis"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    # A newer customer message arrived before this one was analysed: only the newest counts.
    SUPERSEDED = "superseded", "Superseded"


class MessageAnalysis(models.Model):
    """The copilot's work on one customer message, keyed by (ticket, transcript version).

    The row is written in the same transaction as the message, so a message is never without its
    analysis record even if the broker is down when it arrives; the task only fills it in.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="analyses")
    transcript_version = models.PositiveIntegerField()
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="analyses")
    status = models.CharField(
        max_length=12, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_at = models.DateTimeField()
    picked_up_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["ticket", "-transcript_version"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "transcript_version"], name="analysis_ticket_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=AnalysisStatus.values), name="analysis_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="analysis_queue_idx")]

    def __str__(self) -> str:
        return f"analysis of ticket {self.ticket_id} v{self.transcript_version} ({self.status})"
