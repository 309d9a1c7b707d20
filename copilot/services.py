"""Writes of the copilot app: requesting and recording analyses of customer messages."""

from django.db import transaction
from django.utils import timezone

from copilot.models import AnalysisStatus, MessageAnalysis
from tickets.models import Message


def analysis_request(*, message: Message) -> MessageAnalysis:
    """Record that a customer message awaits analysis and queue the work after commit.

    Called inside the transaction that appends the message. Older pending analyses of the same
    ticket are superseded: the agent needs the copilot's view of the conversation as it is now.
    """
    from copilot.tasks import analyse_message

    now = timezone.now()
    MessageAnalysis.objects.filter(
        ticket_id=message.ticket_id,
        status=AnalysisStatus.PENDING,
        transcript_version__lt=message.sequence,
    ).update(status=AnalysisStatus.SUPERSEDED, finished_at=now)
    analysis, _ = MessageAnalysis.objects.get_or_create(
        ticket_id=message.ticket_id,
        transcript_version=message.sequence,
        defaults={"message": message, "requested_at": now},
    )
    analyse_message.delay_on_commit(
        ticket_id=message.ticket_id, transcript_version=message.sequence
    )
    return analysis


@transaction.atomic
def analysis_pick_up(*, ticket_id: int, transcript_version: int) -> MessageAnalysis | None:
    """A worker took the analysis: note it, or stop here if it is gone or already superseded.

    Safe to run twice (late acknowledgement redelivers a task whose worker died): it only counts
    the attempt. The models that fill in the result arrive with the analysis pipeline.
    """
    analysis = (
        MessageAnalysis.objects.select_for_update()
        .filter(ticket_id=ticket_id, transcript_version=transcript_version)
        .first()
    )
    if analysis is None or analysis.status != AnalysisStatus.PENDING:
        return analysis
    analysis.attempts += 1
    analysis.picked_up_at = timezone.now()
    analysis.save(update_fields=["attempts", "picked_up_at"])
    return analysis
