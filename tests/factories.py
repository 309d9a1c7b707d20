import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Role, Team, User
from accounts.services import roles_ensure
from copilot.models import AnalysisStatus, MessageAnalysis
from tickets.models import AuthorKind, Channel, Customer, Message, Priority, Status, Ticket


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    password = factory.django.Password("pw")

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs: object) -> None:
        if create and extracted:
            self.groups.add(roles_ensure()[extracted])

    @factory.post_generation
    def teams(self, create: bool, extracted: list[Team] | None, **kwargs: object) -> None:
        if create and extracted:
            for team in extracted:
                team.memberships.create(user=self)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    name = factory.Faker("name")
    email = factory.Faker("email")
    lifetime_spend = Decimal("120.50")
    order_count = 3
    signup_date = dt.date(2024, 5, 1)


class TicketFactory(factory.django.DjangoModelFactory):
    """A ticket with one customer message, built the way ticket_create would leave it."""

    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    team = factory.SubFactory(TeamFactory)
    subject = factory.Faker("sentence", nb_words=6)
    channel = Channel.EMAIL
    status = Status.OPEN
    priority = Priority.NORMAL
    created_at = factory.LazyFunction(timezone.now)
    last_message_at = factory.LazyAttribute(lambda o: o.created_at)
    transcript_version = 1

    @factory.post_generation
    def first_message(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if create:
            Message.objects.create(
                ticket=self,
                sequence=1,
                author_kind=AuthorKind.CUSTOMER,
                author_name=self.customer.name,
                body=extracted or "My order has not arrived yet.",
                created_at=self.created_at,
            )


class MessageAnalysisFactory(factory.django.DjangoModelFactory):
    """The copilot's finished analysis of the ticket's message at `transcript_version` (by
    default the ticket's current one). Pass the readings a test needs: sentiment, intent..."""

    class Meta:
        model = MessageAnalysis

    ticket = factory.SubFactory(TicketFactory)
    transcript_version = factory.LazyAttribute(lambda a: a.ticket.transcript_version)
    message = factory.LazyAttribute(lambda a: a.ticket.messages.get(sequence=a.transcript_version))
    requested_at = factory.LazyFunction(timezone.now)
    status = AnalysisStatus.DONE
