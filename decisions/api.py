"""The inline HTTP API: a transaction in, a decision out, in a few milliseconds.

Routes (DESIGN.md, "The inline API"): ``POST /v1/decisions``, ``POST /v1/labels``,
``POST /v1/offer-responses``, ``PUT /v1/customers/{id}``, ``GET /v1/customers/{id}/features``,
``GET /metrics``, ``GET /healthz``, ``GET /readyz``, ``GET /openapi.json``.

It runs on aiohttp, the server faust's workers already embed, so one process serves the API
and the stream agents without a second event loop or a proxy. The decision itself is the
shared synchronous :class:`~decisions.engine.DecisionEngine`; the handler calls it directly
(its Redis round trip has a sub-second timeout and the engine never raises for a dependency).
Everything that leaves for Kafka goes through a non-blocking ``publish`` that only enqueues.

Labels and offer responses are validated and published to their topics (``202 Accepted``):
the one learner that consumes those topics owns training. A profile is applied to the store at
once, so the next decision sees it, and published to the compacted ``customers`` topic.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from decisions.alerts import build_alert
from decisions.batching import DecisionBatcher
from decisions.engine import DecisionEngine, DecisionResult
from decisions.limits import RateLimitedError, RequestTimeoutError, TokenBucket
from decisions.openapi import openapi_document
from events import topics
from events.errors import (
    DependencyUnavailableError,
    EventValidationError,
    FieldProblem,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    VerdictError,
)
from events.metrics import Children, Metrics
from events.parsing import (
    check_identifier,
    json_object,
    parse_customer,
    parse_label,
    parse_offer_response,
    parse_transaction,
)
from events.records import DEFAULT_CURRENCY, CustomerProfile, Event
from state.store import Entity

log = logging.getLogger(__name__)

#: Routes anyone may call: probes must work without the token, and the alert console's page,
#: its static files and its login form hold no data (its data routes need the token).
PUBLIC_ROUTES: Final = frozenset(
    {"/healthz", "/readyz", "/console", "/console/login", "/console/static/console.css",
     "/console/static/console.js"}
)  # fmt: skip
#: The alert console's session cookie (a browser's EventSource cannot send a header).
CONSOLE_COOKIE: Final = "verdict_console"
#: Routes outside the request rate limit: probes and scrapes must work during a flood.
UNLIMITED_ROUTES: Final = frozenset({"/healthz", "/readyz", "/metrics"})
#: The pseudonym key of development set-ups: public, so pseudonyms made with it are not secret.
DEVELOPMENT_PSEUDONYM_KEY: Final = "verdict-development-key"


class ApiSettings(BaseModel):
    """The inline HTTP API (section ``api``: ``VERDICT_API__<NAME>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to bind; loopback unless told otherwise.")
    port: int = Field(8080, ge=1, le=65535, description="Port of the API and /metrics.")
    token: SecretStr | None = Field(None, description="Bearer token required when set.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted.")
    pseudonym_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_PSEUDONYM_KEY),
        description="Key of the customer pseudonyms in alerts (HMAC); set your own secret.",
    )
    max_requests_per_s: float = Field(
        5000.0,
        ge=0,
        allow_inf_nan=False,
        description="Requests a second the API answers, all clients together (probes and "
        "/metrics exempt); above it: 429 with Retry-After. 0: no limit.",
    )
    burst_requests: int = Field(
        1000, ge=1, description="Requests let through at once above the steady rate."
    )
    idle_timeout_s: float = Field(
        15.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds a connection may stay idle, or take to send a request's headers, "
        "before the server closes it.",
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds a client may take to send a request body; slower: 408.",
    )
    console: bool = Field(
        True,
        description="Serve the alert console at /console. Each console reads every decision "
        "of the topics, whichever worker took it: with several workers, keep it on one.",
    )


class CustomerStore(Protocol):
    """What the API needs of the feature store beyond the engine."""

    def get(self, entity: Entity, entity_id: str) -> dict[str, float]:
        """The live features of one entity (empty when it has none)."""
        ...

    def put_customer(self, profile: CustomerProfile) -> None:
        """Remember a customer's profile."""
        ...


class EventSink(Protocol):
    """Hands an event to the broker without waiting (a bounded buffer behind it)."""

    def __call__(self, topic: str, key: bytes, value: bytes) -> None:
        """Enqueue one event; never blocks, never raises for the broker."""
        ...


@dataclass(frozen=True)
class ApiServices:
    """The engine and its companions, built at the front door."""

    engine: DecisionEngine
    customers: CustomerStore
    publish: EventSink
    metrics: Metrics
    readiness: Callable[[], Mapping[str, bool]]
    segment: Callable[[Mapping[str, float]], str] | None = None
    feedback: DecisionFeedback | None = None


class DecisionFeedback(Protocol):
    """What learns from decisions as they are taken (:class:`decisions.feedback.EngineFeedback`):
    label horizons start, early labels are learnt, offers open for their responses."""

    def on_decisions(self, results: Sequence[DecisionResult]) -> None:
        """Decisions just taken."""
        ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _model(record: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        body=record.model_dump_json().encode(), status=status, content_type="application/json"
    )


def _error(error: VerdictError) -> web.Response:
    response = _json(error.to_dict(), error.http_status)
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = error.retry_after
    return response


def _check_rate(bucket: TokenBucket, metrics: Metrics, route: str) -> None:
    wait_s = bucket.take()
    if wait_s > 0:
        metrics.http_rate_limited.labels(route=route).inc()
        raise RateLimitedError("too many requests: the API's request rate limit is reached", wait_s)


def create_app(
    services: ApiServices, settings: ApiSettings, *, default_currency: str = DEFAULT_CURRENCY
) -> web.Application:
    """The aiohttp application, with auth, error and metrics middleware."""
    token = settings.token.get_secret_value().encode() if settings.token else None
    metrics = services.metrics
    rate = settings.max_requests_per_s
    bucket = TokenBucket(rate, settings.burst_requests) if rate > 0 else None
    key = settings.pseudonym_key.get_secret_value()
    if hmac.compare_digest(key.encode(), DEVELOPMENT_PSEUDONYM_KEY.encode()):
        log.warning(
            "alerts use the public development pseudonym key: set VERDICT_API__PSEUDONYM_KEY"
        )

    requests, latency = Children(metrics.http_requests), Children(metrics.http_latency)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource
        template = route.canonical if route is not None else "unmatched"
        try:
            if bucket is not None and request.path not in UNLIMITED_ROUTES:
                _check_rate(bucket, metrics, template)
            if token is not None and request.path not in PUBLIC_ROUTES:
                _check_token(request, token)
            response = await handler(request)
        except VerdictError as error:
            response = _error(error)
        except web.HTTPRequestEntityTooLarge:
            too_large = PayloadTooLargeError(f"body larger than {settings.max_body_bytes} bytes")
            response = _json(too_large.to_dict(), too_large.http_status)
        except web.HTTPException as error:
            response = _json({"error": error.reason.lower().replace(" ", "_"),
                              "message": error.text or error.reason}, error.status)  # fmt: skip
            if "Allow" in error.headers:  # a 405 says which methods the route has
                response.headers["Allow"] = error.headers["Allow"]
        except Exception:
            log.exception("unexpected error on %s %s", request.method, template)
            response = _json({"error": "internal_error", "message": "unexpected error"}, 500)
        elapsed = time.perf_counter() - started
        requests(route=template, status=str(response.status)).inc()
        latency(route=template).observe(elapsed)
        response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.3f}"
        return response

    app = web.Application(
        middlewares=[guard],
        client_max_size=settings.max_body_bytes,
        # aiohttp arms the keep-alive timer when a connection opens and after each response,
        # and bytes arriving do not re-arm it: headers sent slowly cannot hold a connection.
        # After an answer given before the body was read (413, 408), what is left of the body
        # is read and dropped for at most the time a body may take.
        handler_args={
            "keepalive_timeout": settings.idle_timeout_s,
            "lingering_time": settings.body_timeout_s,
        },
    )
    routes = _Routes(services, settings, default_currency)
    app.router.add_post("/v1/decisions", routes.decide)
    app.router.add_post("/v1/labels", routes.label)
    app.router.add_post("/v1/offer-responses", routes.offer_response)
    app.router.add_put("/v1/customers/{customer_id}", routes.put_customer)
    app.router.add_get("/v1/customers/{customer_id}/features", routes.features)
    app.router.add_get("/metrics", routes.metrics)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/openapi.json", routes.openapi)
    return app


def console_session(token: bytes) -> bytes:
    """The console cookie's value for ``token``: a keyed digest, so the cookie is not the token."""
    return hmac.new(token, b"verdict-console-session", "sha256").hexdigest().encode()


def _check_token(request: web.Request, token: bytes) -> None:
    cookie = request.cookies.get(CONSOLE_COOKIE)
    if cookie is not None and hmac.compare_digest(cookie.encode(), console_session(token)):
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
        raise UnauthorizedError("a valid bearer token is required (Authorization: Bearer ...)")


class _Routes:
    """The handlers; thin: parse, call the engine or the store, publish, answer."""

    def __init__(self, services: ApiServices, settings: ApiSettings, currency: str) -> None:
        self._services = services
        self._settings = settings
        self._currency = currency
        self._alert_key = settings.pseudonym_key.get_secret_value().encode()
        self._openapi = orjson.dumps(openapi_document())
        feedback = services.feedback  # learns from each batch, as on the stream path
        self._batcher: DecisionBatcher[DecisionResult] = DecisionBatcher(
            services.engine, after=None if feedback is None else feedback.on_decisions
        )

    async def _body(self, request: web.Request) -> bytes:
        if (request.content_length or 0) > self._settings.max_body_bytes:
            raise PayloadTooLargeError(f"body larger than {self._settings.max_body_bytes} bytes")
        if request.content.is_eof():  # the body came whole with the headers: no wait, no timer
            return await request.read()
        limit_s = self._settings.body_timeout_s
        try:
            async with asyncio.timeout(limit_s):
                return await request.read()
        except TimeoutError:
            raise RequestTimeoutError(
                f"the request body did not arrive within {limit_s:g} s"
            ) from None

    async def decide(self, request: web.Request) -> web.Response:
        tx = parse_transaction(await self._body(request), default_currency=self._currency)
        result = await self._batcher.decide(tx)  # with the requests that arrived alongside
        decision = result.decision
        publish, key = self._services.publish, tx.customer_id.encode()
        body = decision.model_dump_json().encode()  # once: the topic's message and the answer
        publish(topics.DECISIONS, key, body)
        for trigger in result.triggers:
            publish(topics.TRIGGERS, key, trigger.model_dump_json().encode())
        alert = build_alert(decision, self._alert_key)
        if alert is not None:
            publish(topics.ALERTS, alert.customer_ref.encode(), alert.model_dump_json().encode())
        return web.Response(body=body, content_type="application/json")

    def _accept(self, topic: str, event: Event, key: str) -> web.Response:
        self._services.publish(topic, key.encode(), event.model_dump_json().encode())
        return _json({"accepted": True, "topic": topic}, status=202)

    async def label(self, request: web.Request) -> web.Response:
        label = parse_label(await self._body(request))
        return self._accept(topics.LABELS, label, label.customer_id or label.tx_id)

    async def offer_response(self, request: web.Request) -> web.Response:
        response = parse_offer_response(await self._body(request))
        return self._accept(topics.OFFER_RESPONSES, response, response.customer_id)

    async def put_customer(self, request: web.Request) -> web.Response:
        customer_id = check_identifier(request.match_info["customer_id"], "customer_id")
        body = json_object(await self._body(request), "CustomerProfile")
        if body.setdefault("customer_id", customer_id) != customer_id:
            problem = FieldProblem("customer_id", "differs from the customer id in the path")
            raise EventValidationError([problem], "CustomerProfile")
        profile = parse_customer(body)
        try:
            self._services.customers.put_customer(profile)
        except DependencyUnavailableError:
            log.warning("profile of a customer kept for the topic only: store unavailable")
        self._services.publish(
            topics.CUSTOMERS, customer_id.encode(), profile.model_dump_json().encode()
        )
        return _model(profile)

    async def features(self, request: web.Request) -> web.Response:
        customer_id = check_identifier(request.match_info["customer_id"], "customer_id")
        try:
            features = self._services.customers.get("customer", customer_id)
        except DependencyUnavailableError:  # like a decision: say so, answer, never a 5xx
            reason = {"code": "degraded", "detail": "the feature store is unavailable"}
            return _json(
                {"customer_id": customer_id, "features": {}, "degraded": True, "reasons": [reason]}
            )
        if not features.get("cust_latest_ts"):  # event time 0: nothing recorded yet
            raise NotFoundError(f"no activity recorded for customer {customer_id!r}")
        body: dict[str, Any] = {"customer_id": customer_id, "features": features}
        if self._services.segment is not None:
            body["segment"] = self._services.segment(features)
        return _json(body)

    async def metrics(self, request: web.Request) -> web.Response:
        payload = generate_latest(self._services.metrics.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = dict(await asyncio.to_thread(self._services.readiness))
        ready = all(checks.values())
        return _json({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")
