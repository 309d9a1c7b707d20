"""The reply library: built de-identified from past replies, collapsed, kept across rebuilds,
and its admin pages."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from copilot.engine import get_engine
from copilot.models import ReplyEntry, ReplySource
from copilot.nlp.deid import identifier_leaks
from copilot.replies_selectors import people_known_for_library, reply_entries_for_team
from copilot.services.replies import (
    MIN_WORDS,
    reply_entry_create,
    reply_entry_update,
    reply_library_build,
    reply_vectors_save,
)
from core.errors import DomainError
from privacy.erasure import customer_erase
from privacy.services import consent_record
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Message, Status, Ticket

pytestmark = pytest.mark.django_db

# Replies full of other people's identifiers, as agents wrote them on social and e-mail.
LEAKY_REPLIES = [
    "@115818 Hi Margaret, sorry about order 732201349959! Please DM us your e-mail. ^JS",
    "Hello Thornton, we have refunded card 4111 1111 1111 1111. Call +44 20 7946 0000. -Becky",
    "Hi there, track the parcel here https://t.co/AbC123xyz and tell us what it says. 1/2",
    "Dear Margaret, write to help.desk@example.org about booking ref: AB-77812. Regards, Tom",
    "Sorry for the wait, Priya. The engineer will call you on 0800 123 4567 tomorrow morning.",
]


def solved_ticket(team: Team, customer_name: str, agent_reply: str, **kw: object) -> Ticket:
    customer = kw.pop("customer", None) or CustomerFactory(name=customer_name)
    ticket = TicketFactory(
        team=team,
        customer=customer,
        status=Status.SOLVED,
        solved_at=timezone.now(),
        resolution=agent_reply,
        **kw,
    )
    Message.objects.create(
        ticket=ticket,
        sequence=2,
        author_kind=AuthorKind.AGENT,
        author_name="Rebecca S.",
        body=agent_reply,
        created_at=timezone.now(),
    )
    return ticket


def test_a_library_built_from_replies_full_of_identifiers_holds_none_of_them(
    team_a: Team,
) -> None:
    UserFactory(username="jsmith", first_name="Jane", last_name="Smith")
    for body in LEAKY_REPLIES:
        solved_ticket(team_a, "Margaret Thornton", body)
    solved_ticket(team_a, "Priya Raman", "Thanks Priya!")  # courtesy only: dropped

    report = reply_library_build()

    texts = list(ReplyEntry.objects.values_list("text", flat=True))
    assert len(texts) == 5
    joined = "\n".join(texts)
    for needle in (
        "Margaret", "Thornton", "Priya", "Becky", "Tom", "^JS", "@115818", "115818",
        "732201349959", "4111", "7946", "0800", "help.desk", "example.org", "t.co", "https",
        "AB-77812", "1/2",
    ):  # fmt: skip
        assert needle not in joined, needle
    known = people_known_for_library()
    for text in texts:
        assert identifier_leaks(text, allowed_text="", allowed_names=(), known=known) == ()
    assert "{customer_first_name}" in joined and "{order_number}" in joined
    assert "{url}" in joined and "{phone}" in joined and "{email}" in joined
    team = report.teams[0]
    assert (team.read, team.kept, sum(team.dropped.values())) == (6, 5, 1)
    assert team.dropped["greeting or sign-off only"] == 1


def test_short_and_empty_replies_are_dropped_with_their_reason(team_a: Team) -> None:
    solved_ticket(team_a, "Ann Lee", "@ann123 https://t.co/x1")
    solved_ticket(team_a, "Ann Lee", "On it now!")
    assert MIN_WORDS == 4

    report = reply_library_build()

    assert ReplyEntry.objects.count() == 0
    assert dict(report.teams[0].dropped) == {
        "empty after de-identification": 1,
        f"fewer than {MIN_WORDS} words": 1,
    }


def test_duplicates_collapse_into_one_entry_with_count_and_examples(team_a: Team) -> None:
    same = [
        solved_ticket(team_a, n, f"Hi {n.split()[0]}, please send us your order number in a DM.")
        for n in ("Ann Lee", "Bo Chan", "Cy Diaz")
    ]
    near = solved_ticket(
        team_a, "Di Fox", "Hi Di! Please send us your order number in a DM."
    )  # same reply, other punctuation and name
    other = solved_ticket(team_a, "Ed Gray", "Your refund has been issued and should arrive soon.")

    report = reply_library_build()

    entries = list(ReplyEntry.objects.order_by("-count"))
    assert [(e.count, sorted(e.examples)) for e in entries] == [
        (4, sorted(t.pk for t in [*same, near])),
        (1, [other.pk]),
    ]
    assert entries[0].text == "Hi {customer_first_name}, please send us your order number in a DM."
    assert report.teams[0].collapsed_exact + report.teams[0].collapsed_near == 3


def test_entries_belong_to_the_team_whose_tickets_they_came_from(
    team_a: Team, team_b: Team
) -> None:
    solved_ticket(team_a, "Ann Lee", "Please restart the router and try again.")
    solved_ticket(team_b, "Bo Chan", "Please restart the router and try again.")

    reply_library_build(team_ids=[team_b.pk])

    assert list(ReplyEntry.objects.values_list("team_id", "count")) == [(team_b.pk, 1)]


def test_a_rebuild_keeps_saved_replies_and_an_admins_disable_and_edit(
    team_a: Team, admin_user: User
) -> None:
    solved_ticket(team_a, "Ann Lee", "Please restart the router and try again.")
    solved_ticket(team_a, "Bo Chan", "Your refund has been issued and should arrive soon.")
    reply_library_build()
    router = ReplyEntry.objects.get(text__startswith="Please restart")
    refund = ReplyEntry.objects.get(text__startswith="Your refund")
    reply_entry_update(entry=router, by=admin_user, active=False)
    reply_entry_update(
        entry=refund, by=admin_user, text="Your refund is on its way, {customer_first_name}."
    )
    saved = reply_entry_create(team=team_a, text="We are sorry for the wait.", by=admin_user)
    solved_ticket(team_a, "Cy Diaz", "Please restart the router and try again.")

    reply_library_build()

    router.refresh_from_db()
    refund.refresh_from_db()
    assert (router.active, router.count, router.curated) == (False, 2, True)
    assert refund.text == "Your refund is on its way, {customer_first_name}."
    assert ReplyEntry.objects.filter(pk=saved.pk, source=ReplySource.ADMIN).exists()
    assert ReplyEntry.objects.count() == 3


def test_a_disabled_entry_no_reply_yields_any_more_stays_disabled(
    team_a: Team, admin_user: User
) -> None:
    ticket = solved_ticket(team_a, "Ann Lee", "Please restart the router and try again.")
    reply_library_build()
    entry = ReplyEntry.objects.get()
    reply_entry_update(entry=entry, by=admin_user, active=False)
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.OPEN, solved_at=None, resolution="")
    reply_library_build()
    entry.refresh_from_db()
    assert (entry.active, entry.count, entry.examples) == (False, 0, [])
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Status.SOLVED, solved_at=timezone.now(), resolution="Restart it."
    )

    reply_library_build()

    entry.refresh_from_db()
    assert (entry.active, entry.count) == (False, 1)


def test_opted_out_and_erased_customers_contribute_nothing(team_a: Team, admin_user: User) -> None:
    opted_out = solved_ticket(team_a, "Ann Lee", "Please restart the router and try again.")
    consent_record(
        customer=opted_out.customer,
        purpose=ConsentPurpose.TRAINING,
        granted=False,
        source="admin",
        note="",
        by=admin_user,
    )
    erased = solved_ticket(team_a, "Bo Chan", "Your refund has been issued and should arrive soon.")
    customer_erase(customer=erased.customer, by=admin_user)
    kept = solved_ticket(team_a, "Cy Diaz", "Your parcel left our warehouse this morning.")

    report = reply_library_build()

    assert list(ReplyEntry.objects.values_list("examples", flat=True)) == [[kept.pk]]
    assert report.teams[0].read == 1


def test_admin_text_is_de_identified_and_refused_when_an_identifier_is_left(
    team_a: Team, admin_user: User
) -> None:
    entry = reply_entry_create(
        team=team_a,
        text="Hi Margaret, your order 732201349959 ships today: https://example.com/t. -Becky",
        by=admin_user,
    )
    assert entry.text == "Hi {customer_first_name}, your order {order_number} ships today: {url}."
    assert np.frombuffer(entry.embedding, dtype=np.float32).shape == (384,)

    with pytest.raises(DomainError) as refused:
        reply_entry_create(team=team_a, text="Call {manager} now.", by=admin_user)
    assert refused.value.field == "text" and "{manager}" in refused.value.message
    # A first name opening a sentence is left by the de-identifier (it may be a word) but
    # counted by the broader leak check: refused, naming it.
    with pytest.raises(DomainError) as leaked:
        reply_entry_create(team=team_a, text="Jessica will call you back today.", by=admin_user)
    assert leaked.value.field == "text" and "Jessica" in leaked.value.message
    assert ReplyEntry.objects.count() == 1


def test_an_edited_entry_is_embedded_again(team_a: Team, admin_user: User) -> None:
    entry = reply_entry_create(team=team_a, text="We are sorry for the wait.", by=admin_user)
    before = bytes(entry.embedding)

    reply_entry_update(entry=entry, by=admin_user, text="Your parcel is on its way.")

    entry.refresh_from_db()
    assert bytes(entry.embedding) != before
    assert entry.updated_by == admin_user


def test_ranking_reads_active_entries_and_a_matrix_cached_until_an_entry_changes(
    team_a: Team, admin_user: User
) -> None:
    one = reply_entry_create(team=team_a, text="We are sorry for the wait.", by=admin_user)
    two = reply_entry_create(team=team_a, text="Your parcel is on its way.", by=admin_user)

    entries, vectors = reply_entries_for_team(team_id=team_a.pk)
    assert [e.pk for e in entries] == [one.pk, two.pk]
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    with CaptureQueriesContext(connection) as cached:
        again, _ = reply_entries_for_team(team_id=team_a.pk)
    assert again == entries and len(cached) == 1  # the stamp only

    reply_entry_update(entry=one, by=admin_user, active=False)
    entries, vectors = reply_entries_for_team(team_id=team_a.pk)
    assert [e.pk for e in entries] == [two.pk] and vectors.shape == (1, 384)


# --- Admin pages ----------------------------------------------------------------------------


@pytest.fixture
def entries(team_a: Team, team_b: Team, admin_user: User) -> list[ReplyEntry]:
    return [
        reply_entry_create(team=team_a, text=f"Reply {i} about {{order_number}}.", by=admin_user)
        for i in range(3)
    ] + [reply_entry_create(team=team_b, text="A billing reply.", by=admin_user)]


def test_list_as_page_and_fragment_with_filters_in_few_queries(
    login: Callable[[User], Client], admin_user: User, team_a: Team, entries: list[ReplyEntry]
) -> None:
    client = login(admin_user)
    url = reverse("replies:list")

    page = client.get(url, {"team": team_a.pk})
    with CaptureQueriesContext(connection) as queries:
        fragment = client.get(url, {"team": team_a.pk, "q": "about"}, HTTP_HX_REQUEST="true")

    assert page.status_code == 200 and b"<html" in page.content
    assert b'<label for="id_q">Search</label>' in page.content
    assert fragment.status_code == 200 and b"<html" not in fragment.content
    assert fragment.content.count(b'<tr id="reply-') == 3
    assert b'<mark class="slot">{order_number}</mark>' in fragment.content
    assert len(queries) <= 6  # session, user, team choices, count, page (+ savepoints)


def test_bad_filter_is_named_not_a_500(
    login: Callable[[User], Client], admin_user: User, entries: list[ReplyEntry]
) -> None:
    response = login(admin_user).get(reverse("replies:list"), {"team": "nope", "source": "x"})

    assert response.status_code == 400
    assert b"team" in response.content and b"source" in response.content


def test_toggle_as_fragment_and_as_plain_form(
    login: Callable[[User], Client], admin_user: User, entries: list[ReplyEntry]
) -> None:
    client = login(admin_user)
    entry = entries[0]
    url = reverse("replies:toggle", args=[entry.pk])

    fragment = client.post(url, {"active": "no"}, HTTP_HX_REQUEST="true")
    entry.refresh_from_db()
    assert fragment.status_code == 200 and entry.active is False
    assert fragment.content.strip().startswith(f'<tr id="reply-{entry.pk}">'.encode())

    plain = client.post(url, {"active": "yes"})
    entry.refresh_from_db()
    assert plain.status_code == 302 and entry.active is True
    assert client.post(url, {"active": "maybe"}).status_code == 400


def test_add_and_edit_forms(
    login: Callable[[User], Client], admin_user: User, team_a: Team
) -> None:
    client = login(admin_user)

    added = client.post(
        reverse("replies:add"), {"team": team_a.pk, "text": "Hi Margaret, it ships today."}
    )
    entry = ReplyEntry.objects.get()
    assert added.status_code == 302
    assert entry.text == "Hi {customer_first_name}, it ships today."
    assert (entry.source, entry.created_by) == (ReplySource.ADMIN, admin_user)

    refused = client.post(
        reverse("replies:edit", args=[entry.pk]), {"text": "Call {boss}.", "active": "on"}
    )
    assert refused.status_code == 400 and b"Unknown slot {boss}" in refused.content
    entry.refresh_from_db()
    assert entry.text == "Hi {customer_first_name}, it ships today."

    bad = client.post(reverse("replies:add"), {"team": "999", "text": ""})
    assert bad.status_code == 400 and ReplyEntry.objects.count() == 1
    assert client.get(reverse("replies:edit", args=[entry.pk + 100])).status_code == 404


@pytest.mark.parametrize("who", ["agent", "supervisor"])
def test_agents_and_supervisors_are_refused_and_nothing_changes(
    request: pytest.FixtureRequest,
    login: Callable[[User], Client],
    team_a: Team,
    entries: list[ReplyEntry],
    who: str,
) -> None:
    client = login(request.getfixturevalue(who))
    entry = entries[0]
    before = list(ReplyEntry.objects.order_by("pk").values_list())

    answers = [
        client.get(reverse("replies:list")).status_code,
        client.post(
            reverse("replies:add"), {"team": team_a.pk, "text": "A new reply here."}
        ).status_code,
        client.post(
            reverse("replies:edit", args=[entry.pk]), {"text": "Changed text here."}
        ).status_code,
        client.post(reverse("replies:toggle", args=[entry.pk]), {"active": "no"}).status_code,
    ]

    assert answers == [403, 403, 403, 403]
    assert list(ReplyEntry.objects.order_by("pk").values_list()) == before


def test_saving_vectors_reuses_an_earlier_file_and_embeds_only_new_texts(
    team_a: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = "Please send us your booking details by direct message and we will look."
    solved_ticket(team_a, "Ann Lee", kept)
    first = tmp_path / "first.npz"
    assert reply_vectors_save(path=first) == 1
    added = "Your refund has been issued and shows on your statement in a few days."
    solved_ticket(team_a, "Bo Chan", added)
    encoder = get_engine().encoder
    embedded: list[str] = []
    real_encode = encoder.encode

    def encode_and_note(texts: list[str]) -> np.ndarray:
        embedded.extend(texts)
        return real_encode(texts)

    monkeypatch.setattr(encoder, "encode", encode_and_note)

    assert reply_vectors_save(path=tmp_path / "second.npz", reuse=first) == 2

    assert embedded == [added]  # the kept text's vector came from the first file
    with np.load(first) as a, np.load(tmp_path / "second.npz") as b:
        old = dict(zip(a["text_digests"], a["vectors"], strict=True))
        new = dict(zip(b["text_digests"], b["vectors"], strict=True))
    (digest,) = old
    assert np.array_equal(old[digest], new[digest])
