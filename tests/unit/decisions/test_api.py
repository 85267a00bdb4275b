"""The inline HTTP API in-process: a real aiohttp server on loopback, in-memory stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from decisions.api import ApiServices, ApiSettings, create_app
from decisions.caps import InMemoryCapStore
from decisions.engine import DecisionEngine, DecisionResult
from decisions.policy_file import PolicyHolder, load_policy
from decisions.sources import Scores
from events.metrics import Metrics
from state.memory_store import InMemoryFeatureStore

TX = {"tx_id": "t1", "ts": "2026-03-02T10:00:00Z", "customer_id": "c42", "amount": 25.0}


class Risky:
    """Risk models that decline amounts above 1,000 (the API is under test, not the models)."""

    def score(self, features: Mapping[str, float]) -> Scores:
        fraud = 0.99 if features.get("amount", 0.0) > 1000 else 0.01
        return Scores(fraud=fraud, anomaly=0.1, model_version="test-v1")


@dataclass
class Sink:
    """Collects what the API hands to the broker."""

    events: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        self.events.append((topic, key, orjson.loads(value)))

    def topics(self) -> list[str]:
        return [topic for topic, _, _ in self.events]


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    sink: Sink
    metrics: Metrics
    ready: dict[str, bool]


async def _api(token: str | None = None) -> AsyncIterator[Api]:
    store = InMemoryFeatureStore()
    engine = DecisionEngine(PolicyHolder(load_policy()), store, Risky(), InMemoryCapStore())
    sink = Sink()
    metrics = Metrics(CollectorRegistry())
    ready = {"redis": True, "broker": True}
    services = ApiServices(engine, store, sink, metrics, lambda: ready, lambda f: "mass")
    settings = ApiSettings(token=SecretStr(token) if token else None, max_body_bytes=2048)
    client = TestClient(TestServer(create_app(services, settings)))
    await client.start_server()
    try:
        yield Api(client, sink, metrics, ready)
    finally:
        await client.close()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for value in _api():
        yield value


@pytest.fixture
async def guarded() -> AsyncIterator[Api]:
    async for value in _api(token="s3cret"):
        yield value


async def test_a_transaction_gets_a_decision_in_the_contract(api: Api) -> None:
    response = await api.client.post("/v1/decisions", data=orjson.dumps(TX))
    assert response.status == 200
    body = await response.json()
    assert body["tx_id"] == "t1"
    assert body["outcome"] == "approve"
    assert body["model_version"] == "test-v1"
    assert body["ts"] == "2026-03-02T10:00:00Z"
    assert body["features"]["amount"] == 25.0
    assert {"reasons", "triggers", "degraded", "latency_ms", "policy_version"} <= set(body)
    assert api.sink.topics() == ["decisions"]
    assert api.sink.events[0][1] == b"c42"


async def test_a_decline_raises_a_pseudonymised_alert(api: Api) -> None:
    body = {**TX, "tx_id": "t2", "amount": 5000.0}
    decision = await (await api.client.post("/v1/decisions", json=body)).json()
    assert decision["outcome"] == "decline"
    (alert,) = [event for topic, _, event in api.sink.events if topic == "alerts"]
    assert alert["tx_id"] == "t2"
    assert alert["customer_ref"].startswith("cr_")
    assert "c42" not in orjson.dumps(alert).decode()


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({**TX, "amount": -1}, 422, "amount", ">= 0"),
        ({k: v for k, v in TX.items() if k != "tx_id"}, 422, "tx_id", "is required"),
        ({**TX, "currency": "ABC"}, 422, "currency", "ISO 4217"),
        (b"{not json", 422, "$", "not valid JSON"),
        (b"[1, 2]", 422, "$", "JSON object"),
        ({**TX, "note": "x" * 4000}, 413, None, "larger than"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_problem(
    api: Api, body: Any, status: int, field: str | None, words: str
) -> None:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    response = await api.client.post("/v1/decisions", data=data)
    assert response.status == status
    answer = await response.json()
    assert words in answer["message"]
    if field is not None:
        assert answer["problems"][0]["field"] == field
    assert api.sink.events == []


async def test_the_token_is_required_when_configured(guarded: Api) -> None:
    client = guarded.client
    assert (await client.post("/v1/decisions", json=TX)).status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await client.post("/v1/decisions", json=TX, headers=wrong)).status == 401
    assert (await client.get("/metrics")).status == 401
    right = {"Authorization": "Bearer s3cret"}
    assert (await client.post("/v1/decisions", json=TX, headers=right)).status == 200
    assert (await client.get("/healthz")).status == 200  # probes need no token


async def test_labels_and_offer_responses_are_accepted_and_published(api: Api) -> None:
    label = {"tx_id": "t1", "is_fraud": True, "ts": 1772445600, "source": "analyst"}
    response = await api.client.post("/v1/labels", json=label)
    assert response.status == 202
    answer = {"trigger_id": "g1", "customer_id": "c42", "ts": 1772445600, "accepted": True}
    assert (await api.client.post("/v1/offer-responses", json=answer)).status == 202
    assert api.sink.topics() == ["labels", "offer-responses"]
    assert api.sink.events[0][1] == b"t1"  # no customer id on the label: keyed by tx_id
    bad = await api.client.post("/v1/labels", json={**label, "source": "guess"})
    assert bad.status == 422


async def test_a_profile_is_stored_and_the_live_view_reads_it(api: Api) -> None:
    missing = await api.client.get("/v1/customers/c42/features")
    assert missing.status == 404
    put = await api.client.put("/v1/customers/c42", json={"home_country": "FR"})
    assert put.status == 200
    assert (await put.json())["marketing_consent"] is True
    await api.client.post("/v1/decisions", json={**TX, "country": "JP"})
    view = await (await api.client.get("/v1/customers/c42/features")).json()
    assert view["customer_id"] == "c42"
    assert view["segment"] == "mass"
    assert view["features"]["cust_count_1d"] == 1.0
    assert "customers" in api.sink.topics()


async def test_a_profile_for_another_customer_or_a_bad_id_is_refused(api: Api) -> None:
    other = await api.client.put(
        "/v1/customers/c42", json={"customer_id": "c7", "home_country": "FR"}
    )
    assert other.status == 422
    assert (await other.json())["problems"][0]["field"] == "customer_id"
    bad_id = await api.client.get("/v1/customers/a%20b/features")
    assert bad_id.status == 422


async def test_probes_metrics_and_the_openapi_document(api: Api) -> None:
    assert (await api.client.get("/readyz")).status == 200
    api.ready["broker"] = False
    not_ready = await api.client.get("/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json())["checks"] == {"redis": True, "broker": False}
    await api.client.post("/v1/decisions", json=TX)
    metrics = await (await api.client.get("/metrics")).text()
    assert 'verdict_http_requests_total{route="/v1/decisions",status="200"} 1.0' in metrics
    assert "verdict_decisions_total" in metrics
    document = await (await api.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert "/v1/customers/{customer_id}/features" in document["paths"]
    assert "Transaction" in document["components"]["schemas"]


async def test_unknown_routes_and_methods_answer_json_4xx(api: Api) -> None:
    missing = await api.client.get("/v2/nothing")
    assert missing.status == 404
    assert (await missing.json())["error"] == "not_found"
    wrong_method = await api.client.get("/v1/decisions")
    assert wrong_method.status == 405


class Feedback:
    """Records the decisions handed to the learning side; fails on demand."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[str] = []

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        if self.fail:
            raise RuntimeError("the learner is broken")
        self.seen += [result.decision.tx_id for result in results]


@pytest.mark.parametrize("fail", [False, True], ids=["learns", "learner-fails"])
async def test_inline_decisions_feed_the_learning_side_as_the_stream_does(fail: bool) -> None:
    engine = DecisionEngine(
        PolicyHolder(load_policy()), InMemoryFeatureStore(), Risky(), InMemoryCapStore()
    )
    feedback = Feedback(fail)
    services = ApiServices(
        engine, InMemoryFeatureStore(), Sink(), Metrics(CollectorRegistry()), dict,
        feedback=feedback,
    )  # fmt: skip
    client = TestClient(TestServer(create_app(services, ApiSettings())))
    await client.start_server()
    try:
        response = await client.post("/v1/decisions", data=orjson.dumps(TX))
        assert response.status == 200  # a learner that fails never fails the payment
        assert (await response.json())["tx_id"] == "t1"
    finally:
        await client.close()
    assert feedback.seen == ([] if fail else ["t1"])
