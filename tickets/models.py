from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import Team
from core.models import TimeStampedModel


class Segment(models.TextChoices):
    STANDARD = "standard", "Standard"
    VIP = "vip", "VIP"
    NEW = "new", "New"
    AT_RISK = "at_risk", "At risk"


# Django's default for an e-mail column, named so that serializers and imports check the same
# limit before the database does (a longer value would be a 500, not a 400).
CUSTOMER_EMAIL_MAX = 254


class Customer(TimeStampedModel):
    """A shop's customer. Not a login: customers reach us through channels, not this app."""

    external_id = models.CharField(max_length=100, unique=True, help_text="The shop's own id.")
    name = models.CharField(max_length=200)
    email = models.EmailField(max_length=CUSTOMER_EMAIL_MAX, blank=True)
    segment = models.CharField(max_length=20, choices=Segment.choices, default=Segment.STANDARD)
    signup_date = models.DateField(null=True, blank=True)
    lifetime_spend = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    order_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["name"]), models.Index(fields=["email"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(lifetime_spend__gte=0), name="customer_lifetime_spend_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social"
    PHONE = "phone", "Phone"
    API = "api", "API"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending customer"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


# The ticket life cycle. Services refuse any move not listed here; "closed" is final (a customer
# writing again after that starts a new ticket), "solved" can be reopened.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.OPEN: frozenset({Status.PENDING, Status.SOLVED, Status.CLOSED}),
    Status.PENDING: frozenset({Status.OPEN, Status.SOLVED, Status.CLOSED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
# A list with a fixed order for the check constraint: a frozenset's iteration order changes with
# the hash seed, and makemigrations would then see a different constraint on every run.
DONE_STATUS_ORDER = [Status.SOLVED.value, Status.CLOSED.value]
DONE_STATUSES = frozenset(DONE_STATUS_ORDER)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


# Sort key for priority: text choices do not sort by urgency on their own.
PRIORITY_RANK: dict[str, int] = {
    Priority.LOW: 0,
    Priority.NORMAL: 1,
    Priority.HIGH: 2,
    Priority.URGENT: 3,
}


COMPANY_MAX = 100


class Ticket(models.Model):
    external_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    subject = models.CharField(max_length=200)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="tickets")
    # The brand the customer wrote to (one team serves several: "Delta", "British_Airways").
    # Suggested replies and similar cases come from tickets of the same team and company only,
    # so one brand's customer never reads another brand's voice. Empty: a single-brand desk.
    company = models.CharField(max_length=COMPANY_MAX, blank=True, default="")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    intent = models.CharField(
        max_length=100,
        blank=True,
        help_text="The organisation's own label for the customer's need; trains the intent model.",
    )
    resolution = models.TextField(blank=True, help_text="How the ticket was solved.")
    # Grows by one with every message: analyses are stored per (ticket, transcript_version).
    transcript_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField()
    solved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            # The inbox: one team's tickets by status, newest activity first.
            models.Index(
                fields=["team", "status", "-last_message_at", "-id"], name="ticket_inbox_idx"
            ),
            models.Index(fields=["assignee", "status", "-last_message_at"], name="ticket_mine_idx"),
            models.Index(fields=["-last_message_at", "-id"], name="ticket_recent_idx"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
            models.Index(fields=["status", "-solved_at"], name="ticket_solved_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DONE_STATUS_ORDER, solved_at__isnull=False)
                | (~Q(status__in=DONE_STATUS_ORDER) & Q(solved_at__isnull=True)),
                name="ticket_solved_at_iff_done",
            ),
            models.CheckConstraint(
                condition=~Q(status=Status.SOLVED) | ~Q(resolution=""),
                name="ticket_solved_has_resolution",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="ticket_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="ticket_channel_valid"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=Priority.values), name="ticket_priority_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    @property
    def is_closed(self) -> bool:
        """Closed is final (TICKET_TRANSITIONS): it takes no more messages and no new decisions."""
        return self.status == Status.CLOSED

    @property
    def can_send(self) -> bool:
        """Whether anyone may still write on it: closed is final, the customer's next contact
        opens a new ticket (`message_append` refuses; the page shows no reply box)."""
        return self.status != Status.CLOSED


class AuthorKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class PostedVia(models.TextChoices):
    """The credentials a message came in with through the API (empty: the agent's reply box,
    an import, or Copilot's own system notes)."""

    SESSION = "session", "signed-in session"
    TOKEN = "token", "API token"
    INTEGRATION = "integration", "shop integration"


class Message(models.Model):
    """One entry of a ticket's transcript. Append-only: no service updates or deletes one."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    # The ticket's transcript_version right after this message was added: 1, 2, 3...
    sequence = models.PositiveIntegerField()
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_name = models.CharField(max_length=200, blank=True)
    # Whose credentials sent the message in through the API, and which kind. For a customer's
    # message this is staff posting on the customer's behalf, or the shop's integration.
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    posted_via = models.CharField(max_length=12, choices=PostedVia.choices, blank=True)
    body = models.TextField()
    external_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["ticket", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "sequence"], name="message_sequence_unique"),
            models.UniqueConstraint(
                fields=["ticket", "external_id"],
                condition=~Q(external_id=""),
                name="message_external_id_unique",
            ),
            models.CheckConstraint(condition=~Q(body=""), name="message_body_not_empty"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="message_sequence_positive"),
            models.CheckConstraint(
                condition=Q(author_kind__in=AuthorKind.values), name="message_author_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(posted_via__in=["", *PostedVia.values]),
                name="message_posted_via_valid",
            ),
            # System notes are Copilot's own: no account ever posts one.
            models.CheckConstraint(
                condition=~Q(author_kind=AuthorKind.SYSTEM)
                | Q(posted_by__isnull=True, posted_via=""),
                name="message_system_note_not_posted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id}#{self.sequence} ({self.author_kind})"


class TicketEventKind(models.TextChoices):
    CREATED = "created", "Created"
    STATUS_CHANGED = "status_changed", "Status changed"
    ASSIGNED = "assigned", "Assignee changed"
    IMPORTED = "imported", "Imported"


class TicketEvent(models.Model):
    """Append-only history of what staff did to a ticket (messages live in the transcript).

    Rows are written by the constructors in tickets/events.py, in the transaction of the change.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=TicketEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ticket", "created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="ticket_event_idx")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.kind}"
