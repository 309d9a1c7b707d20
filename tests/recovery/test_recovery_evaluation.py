"""The recovery evaluation: its labelled set loads, and precision@1 and the money-to-informational
rates are counted as documented."""

from pathlib import Path

from django.conf import settings

from recovery.evaluation import catalogue_policies, evaluate, requests_load

DATA = Path(settings.BASE_DIR) / "data"


def test_labelled_set_has_150_requests_with_known_actions_across_sources() -> None:
    requests = requests_load(
        path=DATA / "eval" / "recovery_requests.jsonl", demo=DATA / "demo" / "tickets.jsonl"
    )

    keys = {p.key for p in catalogue_policies()} | {"none"}
    assert len(requests) >= 150
    assert all(r.acceptable and r.acceptable <= keys for r in requests)
    assert {r.source for r in requests} == {"bitext", "twcs", "ibm"}


def test_held_out_set_has_100_requests_outside_the_original_with_known_actions() -> None:
    demo = DATA / "demo" / "tickets.jsonl"
    original = requests_load(path=DATA / "eval" / "recovery_requests.jsonl", demo=demo)
    held_out = requests_load(path=DATA / "eval" / "recovery_requests_heldout.jsonl", demo=demo)

    keys = {p.key for p in catalogue_policies()} | {"none"}
    ids = [r.external_id for r in held_out]
    assert len(held_out) >= 100
    assert len(set(ids)) == len(ids)
    assert set(ids).isdisjoint({r.external_id for r in original})
    assert all(r.acceptable and r.acceptable <= keys for r in held_out)
    assert {r.source for r in held_out} == {"bitext", "twcs", "ibm"}


def test_evaluation_counts_money_offered_to_informational_requests_before_and_after() -> None:
    requests = [
        r
        for r in requests_load(
            path=DATA / "eval" / "recovery_requests.jsonl", demo=DATA / "demo" / "tickets.jsonl"
        )
        if r.external_id in {"bitext-3054", "twcs-771"}
    ]
    # bitext-3054: "can you help me to notify of a fucking problem with payment?" (informational)
    # twcs-771: "... I want my $13 back" (asks for a refund; the intent is unknown)
    sentiments = [("negative", -0.8)] * len(requests)

    report = evaluate(requests, sentiments)

    before, after = report["before"]["all"], report["after"]["all"]
    assert (before.informational, before.money_first, before.money_any) == (1, 1, 1)
    assert (after.informational, after.money_first, after.money_any) == (1, 0, 0)
    assert (before.correct_at_1, after.correct_at_1) == (0, 1)
