"""An alert is shown once its decision is in the activity: the analyst who opens it sees the
payment that raised it, although the two arrive on different topics, in any order."""

from __future__ import annotations

from typing import Any

import orjson

from decisions.alerts import pseudonym
from decisions.console.books import ActivityBook, AlertBook
from decisions.console.follower import ALERT_HOLD_S, TopicFollower
from events import topics
from tests.unit.decisions.harness import Clock

KEY = b"k"


def _follower(clock: Clock) -> TopicFollower:
    return TopicFollower(["127.0.0.1:1"], AlertBook(), ActivityBook(KEY), clock=clock)


def _alert(tx: str, customer: str = "c1") -> bytes:
    ref = pseudonym(customer, KEY)
    return orjson.dumps({"alert_id": f"al-{tx}", "tx_id": tx, "customer_ref": ref, "ts": 1.0})


def _decision(tx: str, customer: str = "c1") -> bytes:
    body: dict[str, Any] = {"tx_id": tx, "customer_id": customer, "ts": 1.0, "outcome": "review",
                            "features": {"amount": 950.0}}  # fmt: skip
    return orjson.dumps(body)


def _shown(follower: TopicFollower) -> list[str]:
    return [alert["tx_id"] for alert in follower.alerts.newest(10)]


def test_an_alert_waits_for_its_decision_and_shows_when_it_arrives() -> None:
    follower = _follower(Clock(step=0.0))
    follower.take(topics.ALERTS, _alert("t1"))
    follower.release()
    assert _shown(follower) == []  # its payment is not in the activity yet
    follower.take(topics.DECISIONS, _decision("t1"))
    follower.release()
    assert _shown(follower) == ["t1"]
    ref = pseudonym("c1", KEY)
    assert [d["tx_id"] for d in follower.activity.recent(ref)["decisions"]] == ["t1"]


def test_an_alert_after_its_decision_shows_at_once() -> None:
    follower = _follower(Clock(step=0.0))
    follower.take(topics.DECISIONS, _decision("t1"))
    follower.take(topics.ALERTS, _alert("t1"))
    follower.release()
    assert _shown(follower) == ["t1"]


def test_an_alert_whose_decision_never_comes_shows_after_the_hold() -> None:
    clock = Clock(step=0.0)
    follower = _follower(clock)
    follower.take(topics.ALERTS, _alert("t1"))
    follower.take(topics.DECISIONS, _decision("t2"))  # another payment of the same customer
    clock.now += ALERT_HOLD_S - 0.01
    follower.release()
    assert _shown(follower) == []
    clock.now += 0.02
    follower.release()
    assert _shown(follower) == ["t1"]


def test_an_analysts_verdict_marks_a_held_alert() -> None:
    follower = _follower(Clock(step=0.0))
    follower.take(topics.ALERTS, _alert("t1"))
    label = {"tx_id": "t1", "is_fraud": True, "source": "analyst", "customer_id": "c1"}
    follower.take(topics.LABELS, orjson.dumps(label))
    assert [(a["tx_id"], a.get("verdict")) for a in follower.alerts.newest(10)] == [("t1", "fraud")]


def test_an_alert_without_its_ids_is_skipped_and_a_repeat_is_held_once() -> None:
    follower = _follower(Clock(step=0.0))
    follower.take(topics.ALERTS, orjson.dumps({"alert_id": "al-x", "ts": 1.0}))  # no tx, no ref
    follower.take(topics.ALERTS, _alert("t1"))
    follower.take(topics.ALERTS, _alert("t1"))  # at-least-once delivery repeats it
    follower.take(topics.DECISIONS, _decision("t1"))
    follower.release()
    assert _shown(follower) == ["t1"]
    assert follower.read == 3  # the malformed alert is not counted as read
