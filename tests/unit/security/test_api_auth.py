"""Who may call the API: the token on every route but the probes, compared in constant time."""

from __future__ import annotations

import ast
import hmac
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from decisions.api import PUBLIC_ROUTES, ApiSettings
from decisions.openapi import openapi_document
from tests.unit.security.api_harness import TX, served

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "t0ken-of-the-test"
#: Every operation of the document that declares the bearer scheme, with a body that would do.
GUARDED = [
    (method.upper(), path.replace("{customer_id}", "c42"))
    for path, item in openapi_document()["paths"].items()
    for method, operation in item.items()
    if operation.get("security")
]
WRONG = [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer nope"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": f"Bearer {TOKEN.upper()}"},
    {"X-Token": TOKEN},
]


def _body(method: str, path: str) -> bytes | None:
    if method == "GET":
        return None
    if path.startswith("/v1/customers"):
        return orjson.dumps({"home_country": "FR"})
    return orjson.dumps(TX)


def test_the_document_guards_every_route_but_the_probes() -> None:
    paths = {path for _, path in GUARDED}
    assert "/v1/decisions" in paths and "/metrics" in paths
    assert not paths & {"/healthz", "/readyz"}


async def test_without_the_right_token_every_guarded_route_answers_401() -> None:
    async with served(ApiSettings(token=SecretStr(TOKEN))) as api:
        for method, path in GUARDED:
            for headers in WRONG:
                response = await api.client.request(
                    method, path, data=_body(method, path), headers=headers
                )
                assert response.status == 401, (method, path, headers)
                assert (await response.json())["error"] == "unauthorized"
            right = {"Authorization": f"Bearer {TOKEN}"}
            response = await api.client.request(
                method, path, data=_body(method, path), headers=right
            )
            assert response.status not in (401, 403), (method, path)
        for path in ("/healthz", "/readyz"):
            assert path in PUBLIC_ROUTES
            assert (await api.client.get(path)).status == 200


async def test_without_a_configured_token_the_api_is_open() -> None:
    async with served(ApiSettings()) as api:
        assert (await api.client.post("/v1/decisions", data=orjson.dumps(TX))).status == 200


async def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with served(ApiSettings(token=SecretStr(TOKEN))) as api:
        headers = {"Authorization": "Bearer guess"}
        assert (await api.client.get("/metrics", headers=headers)).status == 401
    assert (b"guess", TOKEN.encode()) in calls


def _secret_like(node: ast.expr) -> str | None:
    """The name in ``node`` that says it holds a secret, if any."""
    for sub in ast.walk(node):
        name = sub.id if isinstance(sub, ast.Name) else getattr(sub, "attr", None)
        if isinstance(name, str) and any(
            word in name.lower() for word in ("token", "secret", "password", "cookie", "session")
        ):
            return name
    return None


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for p in [ROOT / "decisions" / "api.py", *(ROOT / "decisions" / "console").glob("*.py")]
        if p.is_file()
    ),
)
def test_no_secret_is_compared_with_equality(path: str) -> None:
    """``==`` on a secret returns at the first differing byte (a timing oracle): secrets are
    compared with ``hmac.compare_digest``, everywhere a request is authenticated."""
    tree = ast.parse((ROOT / path).read_text())
    offending = [
        f"line {node.lineno}: {name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        for name in [_secret_like(node)]
        if name is not None
    ]
    assert offending == []
