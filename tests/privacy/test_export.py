"""A customer's data export: the package, its safety, the task, the admin pages and the log."""

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Team, User
from copilot.models import DraftDecision, DraftDecisionEvent, MessageAnalysis
from privacy.exports import services as exports
from privacy.exports.csv_format import FORMULA_PREFIXES, csv_cell
from privacy.exports.selectors import export_list_for_customer, export_path
from privacy.exports.services import export_build, export_request
from privacy.models import ConsentRecord, DataExport, ExportStatus, PrivacyEvent, PrivacyEventKind
from privacy.tasks import build_customer_export
from recovery.catalogue import action_catalogue_ensure
from recovery.models import (
    CustomerSignals,
    ExecutionStatus,
    Recommendation,
    RecommendationStatus,
    RecoveryAction,
    RecoveryExecution,
)
from tests.factories import CustomerFactory, MessageAnalysisFactory, TicketFactory
from tickets.consent import ConsentPurpose
from tickets.models import AuthorKind, Customer, Message, Status, Ticket

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
FORMULA = '=HYPERLINK("http://x","click me")'
SCRIPT = '<script>alert("x")</script>'
CSV_FILES = ["tickets.csv", "messages.csv", "consents.csv", "analyses.csv", "recommendations.csv"]


@dataclass
class Scenario:
    customer: Customer
    tickets: list[Ticket]
    messages: list[Message]
    other_customer: Customer
    other_ticket: Ticket
    analysis: MessageAnalysis
    recommendation: Recommendation


@pytest.fixture(autouse=True)
def export_dir(settings: Settings, tmp_path: Path) -> Path:
    """Each test writes its packages to a directory of its own."""
    settings.PRIVACY_EXPORT_DIR = str(tmp_path / "exports")
    return tmp_path / "exports"


def _message(ticket: Ticket, body: str, *, kind: str = AuthorKind.CUSTOMER, name: str) -> Message:
    ticket.transcript_version += 1
    ticket.save(update_fields=["transcript_version"])
    return Message.objects.create(
        ticket=ticket,
        sequence=ticket.transcript_version,
        author_kind=kind,
        author_name=name,
        body=body,
        created_at=timezone.now(),
    )


@pytest.fixture
def scenario(team_a: Team, team_b: Team, agent: User) -> Scenario:
    customer = CustomerFactory(name="Rosa Diaz", email="rosa@example.com", external_id="shop-77")
    first = TicketFactory(
        customer=customer, team=team_a, subject="Parcel never arrived", first_message=FORMULA
    )
    reply = _message(first, "-5 € off? We are sorry.", kind=AuthorKind.AGENT, name="Alice")
    hostile = _message(first, f"@everyone {SCRIPT} still nothing", name="Rosa Diaz")
    second = TicketFactory(
        customer=customer,
        team=team_b,
        subject="+Charged twice",
        first_message="I was charged twice for order 1234.",
        status=Status.SOLVED,
        resolution="Refunded the second charge.",
        solved_at=timezone.now(),
    )
    for purpose, granted in [
        (ConsentPurpose.TRAINING, False),
        (ConsentPurpose.TRAINING, True),
        (ConsentPurpose.PERSONALISATION, False),
    ]:
        ConsentRecord.objects.create(
            customer=customer, purpose=purpose, granted=granted, source="e-mail"
        )
    analysis = MessageAnalysisFactory(
        ticket=first,
        transcript_version=first.transcript_version,
        message=hostile,
        sentiment="negative",
        sentiment_score=-0.8,
        intent="where_is_my_order",
        intent_confidence=0.91,
        similar_cases=[{"ticket_id": 4242, "similarity": 0.87}],
        draft_reply="=1+1 We are so sorry, a new parcel is on its way.",
        draft_reasons=["the customer is upset", "similar cases were solved by a reshipment"],
        model_versions={"sentiment": "sent-v1", "intent": "intent-v3"},
    )
    DraftDecisionEvent.objects.create(
        analysis=analysis,
        agent=agent,
        decision=DraftDecision.EDITED,
        proposed_text=analysis.draft_reply,
        final_text="We are sorry, a new parcel left today.",
    )
    action_catalogue_ensure()
    recommendation = Recommendation.objects.create(
        ticket=first,
        analysis=analysis,
        action=RecoveryAction.objects.get(key="refund-partial"),
        amount=Decimal("15.00"),
        currency="EUR",
        explanation="the customer is upset; a loyal customer",
        status=RecommendationStatus.EXECUTED,
        decided_by=agent,
        decided_at=timezone.now(),
        decision_reason="Fair for a lost parcel",
        final_amount=Decimal("12.50"),
    )
    RecoveryExecution.objects.create(
        recommendation=recommendation,
        idempotency_key="exec-1",
        amount=Decimal("12.50"),
        currency="EUR",
        status=ExecutionStatus.DONE,
        executed_at=timezone.now(),
    )
    CustomerSignals.objects.create(
        customer=customer, churn_risk=0.42, contacts_30d=3, computed_at=timezone.now()
    )
    other_customer = CustomerFactory(name="Otto Other", email="otto@example.com")
    other_ticket = TicketFactory(
        customer=other_customer,
        team=team_a,
        subject="Other person's fridge",
        first_message="Otto's private message",
    )
    messages = list(
        Message.objects.filter(ticket__customer=customer).order_by("ticket_id", "sequence")
    )
    assert len(messages) == 4 and {reply, hostile} <= set(messages)
    return Scenario(
        customer=customer,
        tickets=[first, second],
        messages=messages,
        other_customer=other_customer,
        other_ticket=other_ticket,
        analysis=analysis,
        recommendation=recommendation,
    )


def _built(scenario: Scenario, admin_user: User) -> DataExport:
    export = export_request(customer=scenario.customer, by=admin_user)
    return export_build(export_id=export.pk)


def _package(export: DataExport) -> dict[str, bytes]:
    with zipfile.ZipFile(export_path(export=export)) as package:
        return {name: package.read(name) for name in package.namelist()}


def _csv(blob: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(blob.decode("utf-8-sig"))))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _personal_terms(scenario: Scenario) -> list[str]:
    customer = scenario.customer
    return [customer.name, customer.email, customer.external_id, "Parcel never arrived"] + [
        m.body for m in scenario.messages
    ]


# --- The service --------------------------------------------------------------------------------


def test_export_request_creates_a_queued_export_logs_it_and_queues_the_build(
    scenario: Scenario, admin_user: User, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        export = export_request(customer=scenario.customer, by=admin_user)

    export.refresh_from_db()
    assert (export.status, export.progress, export.file, export.requested_by) == (
        ExportStatus.PENDING,
        0,
        "",
        admin_user,
    )
    event = PrivacyEvent.objects.get(kind=PrivacyEventKind.EXPORT_REQUESTED)
    assert (event.customer, event.actor, event.data) == (
        scenario.customer,
        admin_user,
        {"export_id": export.pk},
    )
    assert len(callbacks) == 1  # the task, queued after commit
    assert list(export_list_for_customer(customer=scenario.customer)) == [export]
    assert list(export_list_for_customer(customer=scenario.other_customer)) == []


def test_export_holds_every_ticket_and_message_of_the_customer_in_json_and_csv(
    scenario: Scenario, admin_user: User
) -> None:
    export = _built(scenario, admin_user)

    files = _package(export)
    assert sorted(files) == sorted(["data.json", "README.txt", *CSV_FILES])
    data = json.loads(files["data.json"])
    assert data["customer"]["name"] == "Rosa Diaz"
    assert data["customer"]["email"] == "rosa@example.com"
    assert [t["id"] for t in data["tickets"]] == [t.pk for t in scenario.tickets]
    json_messages = [(t["id"], m["id"]) for t in data["tickets"] for m in t["messages"]]
    assert json_messages == [(m.ticket_id, m.pk) for m in scenario.messages]
    first_json = data["tickets"][0]["messages"]
    assert [(m["author_kind"], m["author_name"]) for m in first_json] == [
        ("customer", "Rosa Diaz"),
        ("agent", "Alice"),
        ("customer", "Rosa Diaz"),
    ]
    assert data["tickets"][1]["resolution"] == "Refunded the second charge."

    csv_tickets = _csv(files["tickets.csv"])
    assert [int(row["ticket_id"]) for row in csv_tickets] == [t.pk for t in scenario.tickets]
    csv_messages = _csv(files["messages.csv"])
    assert [(int(r["ticket_id"]), int(r["message_id"])) for r in csv_messages] == [
        (m.ticket_id, m.pk) for m in scenario.messages
    ]


def test_export_holds_consents_analyses_decisions_recommendations_and_signals(
    scenario: Scenario, admin_user: User
) -> None:
    export = _built(scenario, admin_user)

    files = _package(export)
    data = json.loads(files["data.json"])
    assert [(c["purpose"], c["granted"]) for c in data["consent"]["history"]] == [
        ("training", False),
        ("training", True),
        ("personalisation", False),
    ]
    assert data["consent"]["current"] == {
        "personalisation": False,
        "training": True,
        "similar_cases": True,
        "proactive_contact": True,
    }
    [analysis] = data["copilot_analyses"]
    assert analysis["id"] == scenario.analysis.pk
    assert (analysis["sentiment"], analysis["intent"]) == ("negative", "where_is_my_order")
    assert analysis["similar_case_ids"] == [4242]
    assert analysis["drafted_reply"] == scenario.analysis.draft_reply
    assert analysis["draft_reasons"] == scenario.analysis.draft_reasons
    assert analysis["model_versions"] == {"sentiment": "sent-v1", "intent": "intent-v3"}
    [decision] = data["draft_decisions"]
    assert (decision["decision"], decision["final_text"]) == (
        "edited",
        "We are sorry, a new parcel left today.",
    )
    [rec] = data["recovery_recommendations"]
    assert (rec["action"], rec["amount"], rec["status"], rec["decision_reason"]) == (
        "Partial refund",
        "15.00",
        "executed",
        "Fair for a lost parcel",
    )
    assert rec["explanation"] == "the customer is upset; a loyal customer"
    [execution] = data["recovery_executions"]
    assert (execution["amount"], execution["currency"]) == ("12.50", "EUR")
    assert execution["executed_at"]
    assert data["customer_signals"]["churn_risk"] == 0.42
    assert len(_csv(files["consents.csv"])) == 3
    [analysis_row] = _csv(files["analyses.csv"])
    assert analysis_row["draft_decision"] == "edited"
    assert analysis_row["sentiment_score"] == "-0.8"  # a number stays a number
    [rec_row] = _csv(files["recommendations.csv"])
    assert (rec_row["executed_amount"], rec_row["decision_reason"]) == (
        "12.50",
        "Fair for a lost parcel",
    )


def test_export_holds_nothing_of_another_customer(scenario: Scenario, admin_user: User) -> None:
    export = _built(scenario, admin_user)

    blob = b"".join(_package(export).values())
    for term in ["Otto", "otto@example.com", "Other person's fridge", "Otto's private message"]:
        assert term.encode() not in blob
    data = json.loads(_package(export)["data.json"])
    assert scenario.other_ticket.pk not in {t["id"] for t in data["tickets"]}


def test_export_escapes_formulas_in_csv_and_keeps_the_original_text_in_json(
    scenario: Scenario, admin_user: User
) -> None:
    export = _built(scenario, admin_user)

    files = _package(export)
    bodies = [row["body"] for row in _csv(files["messages.csv"])]
    assert bodies[:3] == [
        "'" + FORMULA,
        "'-5 € off? We are sorry.",
        f"'@everyone {SCRIPT} still nothing",
    ]
    assert _csv(files["tickets.csv"])[1]["subject"] == "'+Charged twice"
    assert _csv(files["analyses.csv"])[0]["drafted_reply"].startswith("'=1+1 ")
    for name in CSV_FILES:
        for row in _csv(files[name]):
            for cell in row.values():
                # Only numbers the system wrote itself may start with "-" (a -0.8 sentiment).
                assert not cell.startswith(FORMULA_PREFIXES) or _number(cell), (name, cell)
    data = json.loads(files["data.json"])
    first = data["tickets"][0]
    assert [m["body"] for m in first["messages"]] == [
        FORMULA,
        "-5 € off? We are sorry.",
        f"@everyone {SCRIPT} still nothing",
    ]
    assert data["tickets"][1]["subject"] == "+Charged twice"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("not = at the start", "not = at the start"),
        (" hello", " hello"),
        ("\nplain", "\nplain"),
        ("", ""),
        (None, ""),
        (True, "yes"),
        (-0.8, -0.8),
        (Decimal("-1.50"), Decimal("-1.50")),
        (["=a", "b"], "'=a; b"),
        ({"intent": "v1"}, "intent=v1"),
    ],
)
def test_csv_cell_escapes_text_that_a_spreadsheet_would_run(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


@pytest.mark.parametrize(
    "text",
    [
        " =1+1",
        '   =HYPERLINK("http://x")',
        "\n=1+1",
        "\r\n=1+1",
        " \t @cmd",
        "\u00a0=1+1",  # no-break space
        "\u3000=1+1",  # ideographic space
        "\u200b=1+1",  # zero-width space
        "\ufeff=1+1",  # byte order mark
        "\uff1d1+1",  # full-width =
        "\uff0b1",  # full-width +
        "\uff0d1",  # full-width -
        "\uff20cmd",  # full-width @
        "\ufe661+1",  # small =
        "\u22121",  # minus sign
        " \uff1dSUM(A1:A9)",
    ],
)
def test_csv_injection_after_leading_space_newline_or_full_width_is_escaped(text: str) -> None:
    assert csv_cell(text) == "'" + text


def test_readme_explains_what_is_stored_and_the_customers_choices(
    scenario: Scenario, admin_user: User
) -> None:
    export = _built(scenario, admin_user)

    readme = _package(export)["README.txt"].decode()
    for phrase in [
        "sentiment",
        "intent",
        "same support team",
        "An agent always reviews it",
        "unless you opted out",
        "Nothing leaves the company",
        "[STOPPED] Personalised recommendations",
        "[ALLOWED] Model training",
        "[ALLOWED] Similar-case examples",
        "To change any of these",
    ]:
        assert phrase in readme, phrase


def test_export_build_reports_progress_to_100_and_logs_ready_without_personal_data(
    scenario: Scenario, admin_user: User, monkeypatch: pytest.MonkeyPatch, export_dir: Path
) -> None:
    seen: list[int] = []
    report = exports._export_progress

    def spy(*, export: DataExport, percent: int) -> None:
        report(export=export, percent=percent)
        seen.append(DataExport.objects.get(pk=export.pk).progress)  # committed, visible

    monkeypatch.setattr(exports, "_export_progress", spy)

    export = _built(scenario, admin_user)

    assert seen == sorted(seen) and len(seen) >= 5 and seen[0] > 0 and seen[-1] < 100
    export.refresh_from_db()
    assert (export.status, export.progress, export.error) == (ExportStatus.DONE, 100, "")
    assert export.finished_at is not None
    assert export.file.startswith(f"export-{export.pk}-") and export.file.endswith(".zip")
    assert export_path(export=export).parent == export_dir
    ready = PrivacyEvent.objects.get(kind=PrivacyEventKind.EXPORT_READY)
    assert ready.customer == scenario.customer
    assert ready.data == {
        "export_id": export.pk,
        "tickets": 2,
        "messages": 4,
        "analyses": 1,
        "recommendations": 1,
    }


def test_export_build_twice_leaves_a_done_export_alone(
    scenario: Scenario, admin_user: User
) -> None:
    export = _built(scenario, admin_user)
    path = export_path(export=export)
    before = (path.stat().st_mtime_ns, path.read_bytes())

    again = export_build(export_id=export.pk)

    assert again.status == ExportStatus.DONE and again.file == export.file
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_READY).count() == 1


def test_export_build_of_a_failed_export_rebuilds_the_same_file(
    scenario: Scenario, admin_user: User, export_dir: Path
) -> None:
    export = _built(scenario, admin_user)
    DataExport.objects.filter(pk=export.pk).update(status=ExportStatus.FAILED, error="x")
    export_path(export=export).write_bytes(b"half a zip")

    rebuilt = export_build(export_id=export.pk)

    assert (rebuilt.status, rebuilt.file, rebuilt.error) == (ExportStatus.DONE, export.file, "")
    assert "data.json" in _package(rebuilt)
    assert [p.name for p in export_dir.iterdir()] == [export.file]  # no temp file left


def test_export_build_failure_is_recorded_without_personal_data(
    scenario: Scenario, admin_user: User, monkeypatch: pytest.MonkeyPatch, export_dir: Path
) -> None:
    def broken(**kwargs: object) -> None:
        raise ValueError("cannot serialise Rosa Diaz <rosa@example.com>")

    monkeypatch.setattr(exports, "_customer_data", broken)
    export = export_request(customer=scenario.customer, by=admin_user)

    export_build(export_id=export.pk)  # not raised: a retry would fail the same way

    export.refresh_from_db()
    assert export.status == ExportStatus.FAILED
    assert export.error == "ValueError while building the package; see the worker log."
    assert not PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_READY).exists()
    assert not export_dir.exists() or list(export_dir.iterdir()) == []


def test_export_build_raises_transient_database_errors_for_the_task_to_retry(
    scenario: Scenario, admin_user: User, monkeypatch: pytest.MonkeyPatch, export_dir: Path
) -> None:
    real = exports.csv_tables

    def flaky(data: dict[str, object]) -> object:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(exports, "csv_tables", flaky)
    export = export_request(customer=scenario.customer, by=admin_user)

    with pytest.raises(OperationalError):
        export_build(export_id=export.pk)

    export.refresh_from_db()
    assert (export.status, export.error) == (
        ExportStatus.FAILED,
        "OperationalError while building the package; see the worker log.",
    )
    assert [p.name for p in export_dir.iterdir()] == []  # the temporary file is gone
    monkeypatch.setattr(exports, "csv_tables", real)
    assert export_build(export_id=export.pk).status == ExportStatus.DONE  # the retry


def test_export_of_a_customer_erased_during_the_build_leaves_no_file(
    scenario: Scenario, admin_user: User, monkeypatch: pytest.MonkeyPatch, export_dir: Path
) -> None:
    real = exports._package_write

    def then_erased(*, export: DataExport) -> dict[str, int]:
        counts = real(export=export)
        DataExport.objects.filter(pk=export.pk).delete()
        return counts

    monkeypatch.setattr(exports, "_package_write", then_erased)
    export = export_request(customer=scenario.customer, by=admin_user)

    with pytest.raises(DataExport.DoesNotExist):
        export_build(export_id=export.pk)

    assert list(export_dir.iterdir()) == []
    assert not PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_READY).exists()


def test_build_task_through_celery_builds_the_export_once(
    scenario: Scenario,
    admin_user: User,
    eager_tasks: None,
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(customer=scenario.customer, by=admin_user)

    export.refresh_from_db()
    assert (export.status, export.progress) == (ExportStatus.DONE, 100)
    first = export_path(export=export).read_bytes()

    build_customer_export.delay(export_id=export.pk)  # a redelivery

    export.refresh_from_db()
    assert export_path(export=export).read_bytes() == first
    assert PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_READY).count() == 1


# --- The pages ----------------------------------------------------------------------------------


def _export(scenario: Scenario, admin_user: User, *, status: str) -> DataExport:
    export = export_request(customer=scenario.customer, by=admin_user)
    if status == ExportStatus.DONE:
        return export_build(export_id=export.pk)
    DataExport.objects.filter(pk=export.pk).update(status=status, progress=40)
    export.refresh_from_db()
    return export


PAGES = [
    ("post", "exports:export-request", "customer"),
    ("get", "exports:export-status", "export"),
    ("get", "exports:export-download", "export"),
]


@pytest.mark.parametrize("who", ["anonymous", "agent", "supervisor"])
@pytest.mark.parametrize(("method", "name", "arg"), PAGES)
def test_export_pages_are_for_admins_only(
    request: pytest.FixtureRequest,
    client: Client,
    scenario: Scenario,
    admin_user: User,
    who: str,
    method: str,
    name: str,
    arg: str,
) -> None:
    export = _export(scenario, admin_user, status=ExportStatus.DONE)
    events_before = PrivacyEvent.objects.count()
    if who != "anonymous":
        client.force_login(request.getfixturevalue(who))
    pk = scenario.customer.pk if arg == "customer" else export.pk

    response = getattr(client, method)(reverse(name, args=[pk]))

    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 403
    assert DataExport.objects.count() == 1  # nothing requested
    assert PrivacyEvent.objects.count() == events_before  # nothing downloaded


def test_request_page_redirects_to_the_status_page(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    client = login(admin_user)

    response = client.post(reverse("exports:export-request", args=[scenario.customer.pk]))

    export = DataExport.objects.get()
    assert (export.customer, export.requested_by, export.status) == (
        scenario.customer,
        admin_user,
        ExportStatus.PENDING,
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("exports:export-status", args=[export.pk])


def test_request_fragment_answers_with_the_polling_status(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    client = login(admin_user)

    response = client.post(reverse("exports:export-request", args=[scenario.customer.pk]), **HX)

    export = DataExport.objects.get()
    assert response.status_code == 200
    assert response.content.lstrip().startswith(f'<div id="export-{export.pk}-status"'.encode())
    assert b'hx-trigger="every 2s"' in response.content


def test_request_of_an_unknown_customer_is_404(
    login: Callable[[User], Client], admin_user: User
) -> None:
    response = login(admin_user).post(reverse("exports:export-request", args=[999999]))

    assert response.status_code == 404
    assert not DataExport.objects.exists()


@pytest.mark.parametrize("status", [ExportStatus.PENDING, ExportStatus.RUNNING])
def test_status_fragment_polls_while_the_export_is_being_built(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User, status: str
) -> None:
    export = _export(scenario, admin_user, status=status)
    client = login(admin_user)

    page = client.get(reverse("exports:export-status", args=[export.pk]))
    fragment = client.get(reverse("exports:export-status", args=[export.pk]), **HX)

    assert page.status_code == fragment.status_code == 200
    assert b"<html" in page.content and b"Rosa Diaz" in page.content
    assert b"<html" not in fragment.content
    assert fragment.content.lstrip().startswith(f'<div id="export-{export.pk}-status"'.encode())
    url = reverse("exports:export-status", args=[export.pk])
    assert f'hx-get="{url}" hx-trigger="every 2s"'.encode() in fragment.content
    assert (
        b'<progress id="export-' in fragment.content and b'value="40" max="100"' in fragment.content
    )
    assert b"style=" not in page.content and b"<script>" not in page.content
    assert reverse("exports:export-download", args=[export.pk]).encode() not in page.content


def test_status_fragment_stops_polling_and_offers_the_download_when_done(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    export = _export(scenario, admin_user, status=ExportStatus.DONE)
    client = login(admin_user)

    fragment = client.get(reverse("exports:export-status", args=[export.pk]), **HX)

    assert fragment.status_code == 200
    assert b"hx-trigger" not in fragment.content and b"hx-get" not in fragment.content
    assert reverse("exports:export-download", args=[export.pk]).encode() in fragment.content


def test_status_fragment_of_a_failed_export_shows_the_error_and_stops_polling(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    export = _export(scenario, admin_user, status=ExportStatus.FAILED)
    DataExport.objects.filter(pk=export.pk).update(error="OSError: No space left on device")

    fragment = login(admin_user).get(reverse("exports:export-status", args=[export.pk]), **HX)

    assert b"No space left on device" in fragment.content
    assert b"hx-trigger" not in fragment.content
    assert reverse("exports:export-request", args=[scenario.customer.pk]).encode() in (
        fragment.content
    )


def test_status_fragment_of_a_deleted_export_stops_polling(
    login: Callable[[User], Client], admin_user: User
) -> None:
    client = login(admin_user)

    fragment = client.get(reverse("exports:export-status", args=[999999]), **HX)
    page = client.get(reverse("exports:export-status", args=[999999]))

    assert fragment.status_code == 286  # htmx: swap, then stop polling
    assert b'id="export-999999-status"' in fragment.content
    assert page.status_code == 404


def test_download_streams_the_zip_and_logs_it_without_personal_data(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    export = _export(scenario, admin_user, status=ExportStatus.DONE)
    client = login(admin_user)

    response = client.get(reverse("exports:export-download", args=[export.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == (
        f'attachment; filename="customer-{scenario.customer.pk}-export-{export.pk}.zip"'
    )
    assert "no-store" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert body == export_path(export=export).read_bytes()
    downloaded = PrivacyEvent.objects.get(kind=PrivacyEventKind.EXPORT_DOWNLOADED)
    assert (downloaded.customer, downloaded.actor, downloaded.data) == (
        scenario.customer,
        admin_user,
        {"export_id": export.pk},
    )
    kinds = set(
        PrivacyEvent.objects.filter(customer=scenario.customer).values_list("kind", flat=True)
    )
    assert kinds == {"export_requested", "export_ready", "export_downloaded"}
    logged = json.dumps(list(PrivacyEvent.objects.values_list("data", flat=True))).lower()
    for term in _personal_terms(scenario):
        assert term.lower() not in logged


@pytest.mark.parametrize(
    "status", [ExportStatus.PENDING, ExportStatus.RUNNING, ExportStatus.FAILED]
)
def test_download_of_an_export_that_is_not_done_is_404(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User, status: str
) -> None:
    export = _export(scenario, admin_user, status=status)

    response = login(admin_user).get(reverse("exports:export-download", args=[export.pk]))

    assert response.status_code == 404
    assert not PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_DOWNLOADED).exists()


def test_download_of_a_done_export_whose_file_is_gone_is_404(
    login: Callable[[User], Client], scenario: Scenario, admin_user: User
) -> None:
    export = _export(scenario, admin_user, status=ExportStatus.DONE)
    export_path(export=export).unlink()

    response = login(admin_user).get(reverse("exports:export-download", args=[export.pk]))

    assert response.status_code == 404
    assert not PrivacyEvent.objects.filter(kind=PrivacyEventKind.EXPORT_DOWNLOADED).exists()


@pytest.mark.parametrize(
    ("status", "in_progress", "downloadable"),
    [
        (ExportStatus.PENDING, True, False),
        (ExportStatus.RUNNING, True, False),
        (ExportStatus.DONE, False, True),
        (ExportStatus.FAILED, False, False),
    ],
)
def test_export_states_the_page_asks_for(
    status: str, in_progress: bool, downloadable: bool
) -> None:
    export = DataExport(status=status)

    assert (export.is_in_progress, export.can_download) == (in_progress, downloadable)
