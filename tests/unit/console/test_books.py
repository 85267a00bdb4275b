"""The console's books: deduplicated, bounded, newest first, and no raw customer id out."""

from __future__ import annotations

from typing import Any

import orjson

from decisions.alerts import pseudonym
from decisions.console.books import ActivityBook, AlertBook

KEY = b"k"


def _alert(i: int, ref: str = "cr_x") -> dict[str, Any]:
    return {"alert_id": f"al{i}", "tx_id": f"t{i}", "customer_ref": ref, "ts": float(i)}


def _decision(tx: str, customer: str = "c42", amount: float = 10.0) -> dict[str, Any]:
    return {
        "tx_id": tx,
        "customer_id": customer,
        "ts": "2026-03-02T10:00:00Z",
        "outcome": "approve",
        "fraud_score": 0.1,
        "anomaly_score": 0.2,
        "reasons": [{"code": "velocity_1h", "detail": "7 transactions in 1 h"}],
        "features": {"amount": amount, "cust_count_1d": 3.0, "cust_foreign": 1.0},
    }


def test_alerts_are_deduplicated_bounded_and_newest_first() -> None:
    book = AlertBook(capacity=3)
    assert [book.add(_alert(i)) for i in (1, 2, 2, 3, 1, 4)] == [
        True,
        True,
        False,
        True,
        False,
        True,
    ]
    assert [a["alert_id"] for a in book.newest(10)] == ["al4", "al3", "al2"]
    assert [a["alert_id"] for a in book.newest(2)] == ["al4", "al3"]
    assert book.get("al1") is None and len(book) == 3
    assert book.mark("t1", "fraud") is None  # aged out: nothing to mark


async def test_subscribers_hear_new_alerts_and_verdicts_once() -> None:
    book = AlertBook()
    with book.subscribe() as queue:
        book.add(_alert(1))
        book.add(_alert(1))
        assert book.mark("t1", "fraud") == "al1"
        assert book.mark("t1", "fraud") == "al1"  # the echo from the labels topic: no news
        changes = [queue.get_nowait() for _ in range(queue.qsize())]
    assert changes == [
        ("alerts", [{**_alert(1), "verdict": "fraud"}]),
        ("verdict", {"alert_id": "al1", "verdict": "fraud"}),
    ]
    assert book.subscribers == 0
    assert book.get("al1") == {**_alert(1), "verdict": "fraud"}


async def test_a_subscriber_that_falls_behind_is_told_to_start_over(monkeypatch: Any) -> None:
    monkeypatch.setattr("decisions.console.books.SUBSCRIBER_BACKLOG", 2)
    book = AlertBook()
    with book.subscribe() as queue:
        for i in range(5):
            book.add(_alert(i))
        assert book.subscribers == 0
        items = [queue.get_nowait() for _ in range(queue.qsize())]
    assert items == [("reset", None)]  # its backlog is gone: it reconnects to a snapshot
    assert len(book) == 5


def test_activity_is_kept_under_the_pseudonym_without_the_customer_id() -> None:
    book = ActivityBook(KEY, per_customer=2, customers=2)
    ref = book.add(_decision("t1"))
    assert ref == pseudonym("c42", KEY)
    book.add(_decision("t1"))  # a redelivery
    book.add(_decision("t2", amount=30.0))
    book.add(_decision("t3", amount=50.0))
    recent = book.recent(ref)
    assert [d["tx_id"] for d in recent["decisions"]] == ["t3", "t2"]
    assert recent["decisions"][0]["amount"] == 50.0 and recent["decisions"][0]["foreign"]
    assert recent["decisions"][0]["reasons"] == ["velocity_1h"]
    assert recent["profile"] == {"cust_count_1d": 3.0}
    assert b"c42" not in orjson.dumps(recent)
    assert book.customer_id(ref) == "c42"


def test_the_customer_seen_least_recently_is_forgotten_first() -> None:
    book = ActivityBook(KEY, customers=2)
    first = book.add(_decision("t1", "a"))
    book.add(_decision("t2", "b"))
    book.add(_decision("t3", "a"))  # a is seen again: b is now the oldest
    book.add(_decision("t4", "c"))
    assert book.recent(first)["known"]
    assert not book.recent(pseudonym("b", KEY))["known"]
    assert book.customer_id(pseudonym("b", KEY)) is None
    assert book.recent("cr_unknown") == {
        "customer_ref": "cr_unknown",
        "known": False,
        "profile": {},
        "decisions": [],
    }
