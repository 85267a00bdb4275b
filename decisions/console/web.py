"""The alert console's routes, added to the API's aiohttp application.

- ``GET /console``: the page (HTML, CSS and a small script shipped in this package);
- ``POST /console/login``: exchanges the API token for an HttpOnly, SameSite=Strict session
  cookie that the API's token check accepts (a browser's EventSource cannot send headers);
  ``POST /console/logout`` forgets it;
- ``GET /console/api/session``: whether the caller is signed in (401 when not);
- ``GET /console/api/events``: server-sent events: a snapshot of the newest alerts, then new
  alerts and analysts' verdicts in batches;
- ``GET /console/api/customers/{customer_ref}/activity``: the customer's recent decisions,
  pseudonymised;
- ``POST /console/api/labels``: ``{"alert_id": ..., "verdict": "fraud" | "legitimate"}`` ->
  a :class:`~events.records.Label` with ``source: analyst`` on the ``labels`` topic.

The page, its static files and the login are public (they hold no data); everything under
``/console/api`` needs the token, checked by the API's own middleware, like every API route.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, Final

import orjson
from aiohttp import web

from decisions.api import CONSOLE_COOKIE, ApiSettings, EventSink, console_session
from decisions.console.books import CUSTOMERS, PER_CUSTOMER, ActivityBook, AlertBook, Change
from decisions.console.follower import TopicFollower
from events import topics
from events.errors import EventValidationError, FieldProblem, NotFoundError, UnauthorizedError
from events.records import Label

#: Static files of the page, by name, with their content types.
STATIC: Final = {"console.css": "text/css", "console.js": "text/javascript"}
#: Alerts a console receives when it connects (it keeps a few thousand; older ones stay here).
SNAPSHOT_ALERTS: Final = 2000
#: Seconds between keep-alive comments on an idle event stream (proxies close silent ones).
HEARTBEAT_S: Final = 15.0
#: Seconds a burst of alerts is gathered into one event (one DOM update in the browser).
BATCH_S: Final = 0.25
#: How long the session cookie lives (seconds); the analyst signs in again after it.
SESSION_MAX_AGE_S: Final = 12 * 3600
#: Headers of the page: nothing from elsewhere, no framing, no referrer.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_CLOSE: Final[Change] = ("close", None)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class Console:
    """The alert console of one worker: its books, its topic follower and its routes.

    Parameters
    ----------
    settings
        The API's settings: the token and the pseudonym key.
    bootstrap_servers
        The broker, for the follower.
    publish
        Where labels go (the API's publisher).
    capacity, per_customer, customers
        Bounds of the books (alerts; decisions per customer; customers).
    lookback_s
        How far back the follower starts.
    """

    def __init__(
        self,
        settings: ApiSettings,
        bootstrap_servers: Sequence[str],
        publish: EventSink,
        *,
        capacity: int = 5000,
        per_customer: int = PER_CUSTOMER,
        customers: int = CUSTOMERS,
        lookback_s: float = 3600.0,
    ) -> None:
        self._token = settings.token.get_secret_value().encode() if settings.token else None
        key = settings.pseudonym_key.get_secret_value().encode()
        self.alerts = AlertBook(capacity)
        self.activity = ActivityBook(key, per_customer, customers)
        self.follower = TopicFollower(
            bootstrap_servers, self.alerts, self.activity, lookback_s=lookback_s
        )
        self._publish = publish
        self._closing = False
        self._streams: set[asyncio.Queue[Change]] = set()
        static = files("decisions.console") / "static"
        self._page = (static / "index.html").read_bytes()
        self._static = {name: (static / name).read_bytes() for name in STATIC}

    def install(self, app: web.Application) -> None:
        """Add the console's routes to the API's application (before it starts)."""
        app.router.add_get("/console", self.page)
        app.router.add_get("/console/static/{name}", self.static)
        app.router.add_post("/console/login", self.login)
        app.router.add_post("/console/logout", self.logout)
        app.router.add_get("/console/api/session", self.session)
        app.router.add_get("/console/api/events", self.events)
        app.router.add_get("/console/api/customers/{customer_ref}/activity", self.customer)
        app.router.add_post("/console/api/labels", self.label)

    def start(self) -> None:
        """Start following the topics (on the running loop)."""
        self._closing = False
        self.follower.start()

    async def stop(self) -> None:
        """End the open event streams (so the server can stop at once) and the follower."""
        self._closing = True
        for queue in list(self._streams):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSE)
        await self.follower.stop()

    async def page(self, request: web.Request) -> web.Response:
        """The console's page."""
        return web.Response(body=self._page, content_type="text/html", headers=PAGE_HEADERS)

    async def static(self, request: web.Request) -> web.Response:
        """A static file of the page (only the known ones)."""
        name = request.match_info["name"]
        if name not in STATIC:
            raise NotFoundError(f"no console file {name[:40]!r}")
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=self._static[name], content_type=STATIC[name], headers=headers)

    async def login(self, request: web.Request) -> web.Response:
        """Exchange the API token for the session cookie."""
        body = await _json_body(request)
        given = body.get("token")
        if not isinstance(given, str):
            raise EventValidationError([FieldProblem("token", "must be a string")], "Login")
        if self._token is None:  # no token configured: the console is open
            return _json({"signed_in": True, "auth": False})
        if not hmac.compare_digest(given.strip().encode(), self._token):
            raise UnauthorizedError("that token is not the API's token")
        response = _json({"signed_in": True, "auth": True})
        response.set_cookie(
            CONSOLE_COOKIE,
            console_session(self._token).decode(),
            max_age=SESSION_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure,
        )
        return response

    async def logout(self, request: web.Request) -> web.Response:
        """Forget the session cookie."""
        response = _json({"signed_in": False, "auth": self._token is not None})
        response.del_cookie(CONSOLE_COOKIE, path="/")
        return response

    async def session(self, request: web.Request) -> web.Response:
        """Signed in (the middleware answered 401 otherwise), and whether a token is needed."""
        return _json({"signed_in": True, "auth": self._token is not None})

    async def customer(self, request: web.Request) -> web.Response:
        """The recent activity of the customer behind a pseudonym."""
        ref = request.match_info["customer_ref"]
        return _json(self.activity.recent(ref))

    async def label(self, request: web.Request) -> web.Response:
        """An analyst's verdict on an alert, sent to the ``labels`` topic."""
        body = await _json_body(request)
        verdict = body.get("verdict")
        if verdict not in ("fraud", "legitimate"):
            problem = FieldProblem("verdict", "must be 'fraud' or 'legitimate'")
            raise EventValidationError([problem], "AnalystVerdict")
        alert = self.alerts.get(str(body.get("alert_id", "")))
        if alert is None:
            raise NotFoundError("no such alert in this console (it may have aged out)")
        customer_id = self.activity.customer_id(str(alert["customer_ref"]))
        label = Label(
            tx_id=alert["tx_id"],
            is_fraud=verdict == "fraud",
            ts=time.time(),
            source="analyst",
            customer_id=customer_id,
        )
        key = (customer_id or label.tx_id).encode()
        self._publish(topics.LABELS, key, label.model_dump_json().encode())
        self.alerts.mark(label.tx_id, "fraud" if label.is_fraud else "legitimate")
        reply = {"alert_id": alert["alert_id"], "tx_id": label.tx_id, "verdict": verdict}
        return _json({**reply, "topic": topics.LABELS}, status=202)

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot, then batches of changes, until either side ends."""
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache, no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        with self.alerts.subscribe() as queue:
            self._streams.add(queue)
            try:
                await response.write(b"retry: 2000\n\n" + self._snapshot())
                while not self._closing:
                    try:
                        first = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                    except TimeoutError:
                        await response.write(b": keep-alive\n\n")
                        continue
                    if first != _CLOSE:
                        await asyncio.sleep(BATCH_S)
                    changes = [first]
                    while not queue.empty():
                        changes.append(queue.get_nowait())
                    if any(kind in ("close", "reset") for kind, _ in changes):
                        break  # closing, or too slow: the browser reconnects to a snapshot
                    await response.write(self._batch(changes))
            except (ConnectionError, RuntimeError):  # the browser went away
                pass
            finally:
                self._streams.discard(queue)
        return response

    def _snapshot(self) -> bytes:
        alerts = self.alerts.newest(SNAPSHOT_ALERTS)
        return _event("snapshot", {"alerts": alerts, "kept": len(self.alerts)})

    def _batch(self, changes: list[Change]) -> bytes:
        alerts = [alert for kind, batch in changes if kind == "alerts" for alert in batch]
        verdicts = [change for kind, change in changes if kind == "verdict"]
        out = b""
        if alerts:
            out += _event("alerts", {"alerts": alerts[::-1], "kept": len(self.alerts)})
        if verdicts:
            out += _event("verdicts", {"verdicts": verdicts})
        return out


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The JSON object of a console POST (JSON only: a cross-site form cannot send it)."""
    if request.content_type != "application/json":
        problem = FieldProblem("Content-Type", "must be application/json")
        raise EventValidationError([problem], "ConsoleRequest")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise EventValidationError(
            [FieldProblem("body", "is not JSON")], "ConsoleRequest"
        ) from None
    if not isinstance(body, dict):
        raise EventValidationError([FieldProblem("body", "must be an object")], "ConsoleRequest")
    return body
