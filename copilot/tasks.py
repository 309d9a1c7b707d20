"""Celery tasks of the copilot. Each is idempotent: late acknowledgement redelivers a task whose
worker died, and running one twice changes nothing the first run did not."""

import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_process_init, worker_ready

from copilot.engine import get_engine, index_health
from copilot.nlp.index import IndexBusy
from copilot.services import analysis as analysis
from copilot.services import cases as cases
from core.retry import retry_options

logger = logging.getLogger(__name__)

# The database gone for a moment (a restart, a failover): try again soon and a few more times,
# backing off, rather than leave the message without its analysis or the index behind. A model
# that cannot run is not transient and is recorded as a failed analysis instead (see
# analysis_run).
DURABLE = retry_options(retry_backoff=2, max_retries=6)


@shared_task(**{**DURABLE, "retry_backoff_max": 60})
def analyse_message(*, ticket_id: int, transcript_version: int) -> None:
    """Analyse the customer message that brought a ticket to ``transcript_version``."""
    analysis.analysis_run(ticket_id=ticket_id, transcript_version=transcript_version)


@shared_task(**{**DURABLE, "retry_backoff_max": 60})
def analyse_pending() -> None:
    """Analyse every pending analysis in batches (after an import, the demo's seed)."""
    analysis.analyses_run_pending()


@shared_task(**DURABLE)
def record_solved_case(*, ticket_id: int) -> None:
    """Embed a solved ticket as a case, then bring the index up to date."""
    if cases.case_record(ticket_id=ticket_id) is not None:
        sync_case_index.delay()


@shared_task(bind=True, **DURABLE)
def sync_case_index(self) -> None:
    """Publish the cases added and removed since the last index generation.

    When another writer holds the index this run steps back and comes again in a moment; the
    run that follows picks up every change made until then, so bursts of solved tickets cost
    one publish, not one each.
    """
    try:
        cases.case_index_sync(wait=False)
    except IndexBusy as exc:
        raise self.retry(countdown=2, max_retries=60, exc=exc) from exc


@shared_task(**DURABLE)
def repair_case_index() -> None:
    """Rebuild the similar-case index from the database if no usable generation is published."""
    cases.case_index_repair()


@shared_task(ignore_result=True)
def requeue_stale_analyses() -> None:
    """Every minute (beat): analyses whose task was lost are queued again."""
    analysis.analyses_requeue_stale()


@worker_ready.connect
def _check_index(**_kwargs: object) -> None:
    """Say at start-up, plainly, if the similar-case index is missing or damaged, and have the
    index writer rebuild it: a first start, a crash in the middle of a publish or a damaged file
    repairs itself instead of waiting for someone to read the log."""
    ok, message = index_health(verify=True)
    if ok:
        logger.info("Similar-case index: %s", message)
        return
    logger.error("Similar-case index: %s. A rebuild from the database is queued.", message)
    repair_case_index.delay()


@worker_process_init.connect
def _warm_up(**_kwargs: object) -> None:
    """Start loading the models when a pool process starts, so the first message is not the
    slow one, in the background, so the process reports up to the pool at once.

    The pool kills a new process that has not reported up within `worker_proc_alive_timeout`
    (4 s by default), and loading the models takes 6 s on an idle 2-core machine (more on a busy
    one): loaded here, every replacement of a killed pool process was itself killed, and the
    fast worker stayed at no capacity until restarted. A task that arrives meanwhile waits for
    the models: each is loaded once, under its own lock.
    """
    threading.Thread(target=_load_models, name="copilot-warm-up", daemon=True).start()


def _load_models() -> None:
    """A model that cannot load is logged, not raised: the process still runs, and each
    analysis then records the failure on its ticket instead of the worker dying in a loop."""
    started = time.perf_counter()
    try:
        get_engine().warm_up()
    except Exception:
        logger.exception("Copilot models could not be loaded at start-up")
        return
    logger.info("Copilot models loaded in %.1f s", time.perf_counter() - started)
