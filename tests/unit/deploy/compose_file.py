"""The deployment files of the repository, read the way their tools read them.

``docker-compose.yml`` is parsed as YAML (anchors and ``<<`` merges resolved), then every
string is interpolated as Compose does (``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``,
``$$``), with the variables a test chooses. PyYAML is imported lazily so that the modules of
this folder import without it; the tests that need it skip with a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import pytest

REPO: Final = Path(__file__).resolve().parents[3]
COMPOSE_FILE: Final = REPO / "docker-compose.yml"
DOCKERFILE: Final = REPO / "Dockerfile"
DOCKERIGNORE: Final = REPO / ".dockerignore"
README: Final = REPO / "README.md"
DEPLOY: Final = REPO / "deploy"
PROMETHEUS_CONFIG: Final = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA_PROVISIONING: Final = DEPLOY / "grafana" / "provisioning"
DASHBOARD: Final = DEPLOY / "grafana" / "dashboards" / "verdict.json"
COMPOSE_SCHEMA: Final = Path(__file__).parent / "schemas" / "compose-spec.json"

#: Values for the variables the compose file requires (``${VAR:?...}``) in tests.
TEST_SECRETS: Final = {
    "VERDICT_API__TOKEN": "test-token",
    "VERDICT_API__PSEUDONYM_KEY": "test-pseudonym-key",
}

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A required variable (``${VAR:?message}``) has no value."""


def load_yaml(path: Path) -> Any:
    """The YAML document at ``path`` (safe loader: anchors and merge keys, no tags)."""
    yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the deployment files")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with its Compose variables replaced from ``env``.

    >>> interpolate("${A:-12} ${B} $$HOME", {"B": "x"})
    '12 x $HOME'
    >>> try:
    ...     interpolate("${A:?set A}", {})
    ... except InterpolationError as error:
    ...     print(error)
    A: set A
    """

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        value = env.get(name)
        op, arg = match["op"], match["arg"] or ""
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if unset else str(value)
        if op in (":?", "?"):
            if unset:
                raise InterpolationError(f"{name}: {arg}")
            return str(value)
        if op in (":+", "+"):
            return "" if unset else arg
        return value or ""

    return _VARIABLE.sub(replace, text)


def variables(text: str) -> dict[str, str | None]:
    """The variables ``text`` interpolates, each with its operator (``None`` when bare).

    >>> variables("${A:-1} ${B:?why} $C $$D")
    {'A': ':-', 'B': ':?', 'C': None}
    """
    found: dict[str, str | None] = {}
    for match in _VARIABLE.finditer(text):
        if not match["escaped"]:
            found[match["braced"] or match["named"]] = match["op"]
    return found


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Every string of a parsed document interpolated (keys included), as Compose does."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {interpolate_tree(k, env): interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node


def strings(node: Any) -> list[str]:
    """Every string of a parsed document, keys included."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return []


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``docker-compose.yml`` parsed and interpolated (``TEST_SECRETS`` by default)."""
    document = load_yaml(COMPOSE_FILE)
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    tree: dict[str, Any] = interpolate_tree(document, TEST_SECRETS if env is None else env)
    return tree


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A service's ``environment`` as a mapping (list or mapping form; ``None``: passed through).

    >>> environment({"environment": ["A=1", "B"]})
    {'A': '1', 'B': None}
    >>> environment({"environment": {"A": 1, "B": None}})
    {'A': '1', 'B': None}
    """
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = [entry.split("=", 1) for entry in raw]
        return {pair[0]: pair[1] if len(pair) == 2 else None for pair in pairs}
    return {key: None if value is None else str(value) for key, value in raw.items()}


def verdict_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the Verdict image (the ones built from the Dockerfile)."""
    return {name: svc for name, svc in compose["services"].items() if "build" in svc}


def workers(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run ``verdict serve``."""
    return {
        name: svc
        for name, svc in verdict_services(compose).items()
        if svc.get("command") == ["serve"] and "entrypoint" not in svc
    }
