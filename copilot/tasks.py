from celery import shared_task

from copilot.services import analysis_pick_up


@shared_task(acks_late=True, reject_on_worker_lost=True)
def analyse_message(*, ticket_id: int, transcript_version: int) -> None:
    """Analyse the customer message that brought a ticket to ``transcript_version``."""
    analysis_pick_up(ticket_id=ticket_id, transcript_version=transcript_version)
