"""The console's routes on the API's application: the page, the login, events, labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from decisions.alerts import pseudonym
from decisions.api import CONSOLE_COOKIE, ApiServices, ApiSettings, create_app
from decisions.caps import InMemoryCapStore
from decisions.console import Console
from decisions.engine import DecisionEngine
from decisions.policy_file import PolicyHolder, load_policy
from events.metrics import Metrics
from state.memory_store import InMemoryFeatureStore
from tests.unit.decisions.test_api import Risky, Sink

TOKEN = "s3cret-token"
KEY = "console-test-key"


@dataclass
class Setup:
    client: TestClient[web.Request, web.Application]
    console: Console
    sink: Sink = field(default_factory=Sink)


async def _setup(token: str | None) -> AsyncIterator[Setup]:
    store = InMemoryFeatureStore()
    engine = DecisionEngine(PolicyHolder(load_policy()), store, Risky(), InMemoryCapStore())
    sink = Sink()
    services = ApiServices(engine, store, sink, Metrics(CollectorRegistry()), dict)
    settings = ApiSettings(token=SecretStr(token) if token else None, pseudonym_key=SecretStr(KEY))
    app = create_app(services, settings)
    console = Console(settings, ["127.0.0.1:1"], sink)  # the follower is not started here
    console.install(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield Setup(client, console, sink)
    finally:
        await console.stop()
        await client.close()


@pytest.fixture
async def guarded() -> AsyncIterator[Setup]:
    async for value in _setup(TOKEN):
        yield value


@pytest.fixture
async def open_console() -> AsyncIterator[Setup]:
    async for value in _setup(None):
        yield value


def _decision(tx: str, customer: str = "c42") -> dict[str, Any]:
    return {"tx_id": tx, "customer_id": customer, "ts": 1.77e9, "outcome": "decline",
            "fraud_score": 0.97, "anomaly_score": 0.3, "features": {"amount": 900.0}}  # fmt: skip


def _alert(tx: str, customer: str = "c42") -> dict[str, Any]:
    return {"alert_id": f"al_{tx}", "tx_id": tx, "customer_ref": pseudonym(customer, KEY.encode()),
            "ts": "2026-03-02T10:00:00Z", "severity": "critical", "outcome": "decline",
            "fraud_score": 0.97, "reasons": [], "features": {"amount": 900.0}}  # fmt: skip


async def test_the_page_is_public_self_contained_and_data_free(guarded: Setup) -> None:
    page = await guarded.client.get("/console")
    assert page.status == 200 and page.content_type == "text/html"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert "/console/static/console.js" in html and "http" not in html.replace("http-equiv", "")
    for name, kind in (("console.css", "text/css"), ("console.js", "text/javascript")):
        static = await guarded.client.get(f"/console/static/{name}")
        assert static.status == 200 and static.content_type == kind
    assert (await guarded.client.get("/console/static/..%2Fweb.py")).status in (401, 404)
    assert (await guarded.client.get("/console/api/session")).status == 401
    assert (await guarded.client.get("/console/api/events")).status == 401


async def test_the_login_swaps_the_token_for_a_cookie_the_api_accepts(guarded: Setup) -> None:
    client = guarded.client
    wrong = await client.post("/console/login", json={"token": "guess"})
    assert wrong.status == 401 and not client.session.cookie_jar.filter_cookies(
        client.make_url("/")
    )
    assert (await client.post("/console/login", data=b"token=x")).status == 422  # JSON only
    right = await client.post("/console/login", json={"token": TOKEN})
    assert right.status == 200
    cookie = right.cookies[CONSOLE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie.value != TOKEN
    assert TOKEN not in cookie.value
    assert (await client.get("/console/api/session")).status == 200
    tx = {"tx_id": "t1", "ts": 1.77e9, "customer_id": "c1", "amount": 5.0}
    decided = await client.post("/v1/decisions", json=tx)
    assert decided.status == 200  # the API's token check takes the console's cookie
    await client.post("/console/logout", json={})
    assert (await client.get("/console/api/session")).status == 401


async def _events(response: Any, wanted: str) -> dict[str, Any]:
    name = None
    async with asyncio.timeout(10):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == wanted:
                body: dict[str, Any] = orjson.loads(line[6:])
                return body


async def test_events_give_a_snapshot_then_new_alerts_and_verdicts(open_console: Setup) -> None:
    book = open_console.console.alerts
    book.add(_alert("t1"))
    response = await open_console.client.get("/console/api/events")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    snapshot = await _events(response, "snapshot")
    assert [a["tx_id"] for a in snapshot["alerts"]] == ["t1"]
    book.add(_alert("t2"))
    book.add(_alert("t2"))  # a repeat (at-least-once delivery) is not sent twice
    book.add(_alert("t3"))
    arrived = await _events(response, "alerts")
    assert [a["tx_id"] for a in arrived["alerts"]] == ["t3", "t2"]
    book.mark("t2", "legitimate")
    verdicts = await _events(response, "verdicts")
    assert verdicts["verdicts"] == [{"alert_id": "al_t2", "verdict": "legitimate"}]
    response.close()


async def test_a_verdict_becomes_an_analyst_label_on_the_labels_topic(open_console: Setup) -> None:
    console, client = open_console.console, open_console.client
    ref = console.activity.add(_decision("t9"))
    console.alerts.add(_alert("t9"))
    sent = await client.post("/console/api/labels", json={"alert_id": "al_t9", "verdict": "fraud"})
    assert sent.status == 202
    reply = await sent.json()
    assert reply["tx_id"] == "t9" and "c42" not in orjson.dumps(reply).decode()
    [(topic, key, label)] = open_console.sink.events
    assert (topic, key) == ("labels", b"c42")
    assert label["tx_id"] == "t9" and label["is_fraud"] is True
    assert label["source"] == "analyst" and label["customer_id"] == "c42"
    assert console.alerts.get("al_t9") == {**_alert("t9"), "verdict": "fraud"}
    activity = await (await client.get(f"/console/api/customers/{ref}/activity")).json()
    assert activity["decisions"][0]["tx_id"] == "t9"
    assert "c42" not in orjson.dumps(activity).decode()


async def test_bad_verdicts_are_4xx(open_console: Setup) -> None:
    client = open_console.client
    open_console.console.alerts.add(_alert("t1", "nobody-seen"))
    unknown = await client.post("/console/api/labels", json={"alert_id": "x", "verdict": "fraud"})
    assert unknown.status == 404
    bad = await client.post("/console/api/labels", json={"alert_id": "al_t1", "verdict": "maybe"})
    assert bad.status == 422 and (await bad.json())["problems"][0]["field"] == "verdict"
    keyed = await client.post("/console/api/labels", json={"alert_id": "al_t1", "verdict": "fraud"})
    assert keyed.status == 202  # the customer unseen: the label is keyed by its transaction
    assert open_console.sink.events[0][1] == b"t1"
    assert "customer_id" not in open_console.sink.events[0][2] or (
        open_console.sink.events[0][2]["customer_id"] is None
    )
