from django.conf import settings
from django.db import models
from django.db.models import Q

from tickets.models import Message, Ticket


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Awaiting analysis"
    DONE = "done", "Done"
    # Looked at, but there was nothing a model could read (emoji or symbols only, say).
    NOT_ANALYSABLE = "not_analysable", "Not analysable"
    FAILED = "failed", "Failed"
    # A newer customer message arrived before this one was analysed: only the newest counts.
    SUPERSEDED = "superseded", "Superseded"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class ConversationLevel(models.TextChoices):
    """The customer's state across the conversation (copilot.nlp.conversation)."""

    CALM = "calm", "Calm"
    CONCERNED = "concerned", "Concerned"
    FRUSTRATED = "frustrated", "Frustrated"
    AT_RISK = "at_risk", "At risk of leaving"


class MessageAnalysis(models.Model):
    """The copilot's work on one customer message, keyed by (ticket, transcript version).

    The row is written in the same transaction as the message, so a message is never without its
    analysis record even if the broker is down when it arrives; the task only fills it in.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="analyses")
    transcript_version = models.PositiveIntegerField()
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="analyses")
    status = models.CharField(
        max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_at = models.DateTimeField()
    picked_up_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Beat's re-sends of a task that was lost or never picked up (analyses_requeue_stale): how
    # many and when the last went out, so each waits longer than the one before and the
    # analysis gives up after a bound instead of flooding the queue.
    requeues = models.PositiveSmallIntegerField(default=0)
    requeued_at = models.DateTimeField(null=True, blank=True)

    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True, help_text="-1 (negative) to 1")
    sentiment_confidence = models.FloatField(null=True, blank=True)
    # "unsure" when the classifier's confidence is below the configured threshold.
    intent = models.CharField(max_length=100, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    intent_candidates = models.JSONField(default=list, blank=True)  # [{"label", "confidence"}]
    similar_cases = models.JSONField(default=list, blank=True)  # [{"ticket_id", "similarity"}]
    draft_reply = models.TextField(blank=True)
    draft_reasons = models.JSONField(default=list, blank=True)  # plain-language strings
    # Up to three replies of the team's library, best first: [{"entry_id", "text", "score"}],
    # the text with its slots as in the library (filled for the agent at "Use"). Empty when
    # none scored at the trigger threshold. `selector_version`: the response selector that
    # ranked them, or "cosine" (no selector trained).
    suggestions = models.JSONField(default=list, blank=True)
    selector_version = models.CharField(max_length=64, blank=True)
    # The whole conversation up to this message, not the message alone: the customer's state.
    conversation_level = models.CharField(
        max_length=12, choices=ConversationLevel.choices, blank=True
    )
    conversation_score = models.FloatField(null=True, blank=True, help_text="0 calm to 1")
    conversation_reasons = models.JSONField(default=list, blank=True)  # plain-language strings
    model_versions = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "message analyses"
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

    @property
    def is_final(self) -> bool:
        return self.status != AnalysisStatus.PENDING

    @property
    def is_failed(self) -> bool:
        """A model could not run on it (the message itself is untouched; an admin can re-run it)."""
        return self.status == AnalysisStatus.FAILED

    @property
    def is_not_analysable(self) -> bool:
        """Looked at, with nothing a model could read (or its customer erased meanwhile)."""
        return self.status == AnalysisStatus.NOT_ANALYSABLE


class DraftDecision(models.TextChoices):
    ACCEPTED = "accepted", "Used as is"
    EDITED = "edited", "Edited"
    DISCARDED = "discarded", "Discarded"


class DraftDecisionEvent(models.Model):
    """What an agent did with a drafted reply. Append-only: one row per decision, never changed."""

    analysis = models.ForeignKey(
        MessageAnalysis, on_delete=models.CASCADE, related_name="draft_decisions"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decision = models.CharField(max_length=10, choices=DraftDecision.choices)
    proposed_text = models.TextField()
    final_text = models.TextField(blank=True)
    # The library entry of the suggestion the reply started from (none: the draft itself). No
    # foreign key: an entry may be rebuilt away, the record of what was offered stays.
    suggestion_entry_id = models.PositiveIntegerField(null=True, blank=True)
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(decision__in=DraftDecision.values), name="draft_decision_valid"
            ),
            # One decision per draft: a second click (or a second agent) cannot record another.
            models.UniqueConstraint(fields=["analysis"], name="draft_decision_once"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} draft of {self.analysis}"


class SolvedCase(models.Model):
    """A solved ticket as the similar-case index sees it: its text and embedding.

    Kept in the database so the index can be rebuilt or replicated from here, and so the index
    generation is traceable to the rows it was built from.
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="solved_case")
    text = models.TextField()
    embedding = models.BinaryField()  # float32 unit vector, as the encoder produced it
    model_version = models.CharField(max_length=100)
    # False until an index generation holding this row is published. A re-solved ticket gets
    # a new row (a new primary key), so the index sync marks rows by key without racing.
    indexed = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["indexed"], name="solvedcase_indexed_idx")]

    def __str__(self) -> str:
        return f"case {self.ticket_id}"


class TicketInsight(models.Model):
    """The copilot's current reading of a ticket, for the inbox: one row per analysed ticket.

    A copy of the newest finished analysis's headline figures, written in the same transaction as
    that analysis, so the inbox can filter and sort 100,000 tickets by sentiment without a
    per-row subquery.
    """

    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, primary_key=True, related_name="insight"
    )
    analysis = models.ForeignKey(MessageAnalysis, on_delete=models.CASCADE, related_name="+")
    transcript_version = models.PositiveIntegerField()
    sentiment = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(null=True, blank=True)
    intent = models.CharField(max_length=100, blank=True)
    intent_confidence = models.FloatField(null=True, blank=True)
    conversation_level = models.CharField(
        max_length=12, choices=ConversationLevel.choices, blank=True
    )
    conversation_score = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["sentiment_score"], name="insight_sentiment_idx")]

    def __str__(self) -> str:
        return f"insight on {self.ticket_id}"


class ReplySource(models.TextChoices):
    HISTORY = "history", "Past replies"
    ADMIN = "admin", "Saved reply"


class ReplyEntry(models.Model):
    """One reply the copilot may suggest to a team: de-identified text with typed slots.

    History entries are built from the team's own agent replies (`reply_library_build`); one
    entry stands for every reply that said the same thing (`count`, a few `examples`). Admin
    entries are the organisation's saved replies. The text never holds an identifier: slots are
    filled at send time from the ticket at hand and its agent only.
    """

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="reply_entries"
    )
    # The brand whose tickets the reply came from (`Ticket.company`): it is suggested only on
    # that brand's tickets. Empty: the team's tickets without a company.
    company = models.CharField(max_length=100, blank=True, default="")
    text = models.TextField()
    # sha256 of the normalised de-identified text as built: a rebuild finds the entry again by
    # it (an admin's edit changes `text`, not `key`, so the edit and a disable survive).
    key = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=1)  # agent replies collapsed into this entry
    examples = models.JSONField(default=list, blank=True)  # a few source ticket ids
    source = models.CharField(max_length=10, choices=ReplySource.choices)
    active = models.BooleanField(default=True)
    # An admin edited or disabled this history entry: a rebuild keeps their text and switch,
    # and keeps the entry (as a tombstone with no count) even when no reply yields it any more.
    curated = models.BooleanField(default=False)
    embedding = models.BinaryField()  # float32 unit vector of `text`, from the base encoder
    model_version = models.CharField(max_length=100)
    # Which library build last wrote the entry (history entries), and when.
    build_id = models.CharField(max_length=40, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "reply entries"
        ordering = ["team", "-count", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "company", "key"],
                condition=Q(source="history"),
                name="replyentry_history_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(source__in=ReplySource.values), name="replyentry_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["team", "company", "active"], name="replyentry_scope_active_idx")
        ]

    def __str__(self) -> str:
        brand = f" ({self.company})" if self.company else ""
        return f"reply {self.pk} of team {self.team_id}{brand} ({self.source})"


class IntentLabel(models.Model):
    """What people call an intent: the models speak in keys (`track_order`), the screens in the
    words a team chose ("Where is my order"). An intent without a row reads as its key made
    into words ("Track order"); admins add rows in the Django admin to rename one."""

    key = models.CharField(max_length=100, unique=True)
    label = models.CharField(max_length=100)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} → {self.label}"
