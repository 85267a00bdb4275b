"""The Lua scripts of the Redis store: read from the package, settings filled in, SHA known.

Each entity script is ``lib.lua`` followed by the entity's file, with ``{{NAME}}`` placeholders
replaced by integers from the settings (margin, expiry, bucket), so the scripts carry no
per-call configuration. The SHA-1 is computed here: callers send ``EVALSHA`` straight away and
load the scripts only when Redis answers ``NOSCRIPT`` (first use, or after a restart).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from state.settings import StateSettings
from state.windows import Retention

_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
#: Scripts that run on one entity's keys, with the shared helpers in front.
ENTITY_SCRIPTS = ("customer", "terminal", "device")


@dataclass(frozen=True, slots=True)
class Script:
    """One Lua script: its source and the SHA-1 that ``EVALSHA`` names it by."""

    name: str
    source: str
    sha: bytes

    @classmethod
    def of(cls, name: str, source: str) -> Script:
        """A script with its SHA-1 computed."""
        return cls(name, source, hashlib.sha1(source.encode()).hexdigest().encode())


def _read(name: str) -> str:
    return resources.files("state").joinpath("lua", f"{name}.lua").read_text()


def render(template: str, values: dict[str, int]) -> str:
    """Replace every ``{{NAME}}`` in ``template``; a name without a value is an error.

    >>> render("local M = {{MARGIN}}", {"MARGIN": 60})
    'local M = 60'
    """

    def value(match: re.Match[str]) -> str:
        return str(values[match.group(1)])

    return _PLACEHOLDER.sub(value, template)


def load_scripts(settings: StateSettings) -> dict[str, Script]:
    """Every script of the store, by name (customer, terminal, device)."""
    retention = Retention.from_settings(settings)
    values = {
        "MARGIN": settings.late_margin_s,
        "IDLE_EXPIRY": settings.idle_expiry_s,
        "BUCKET": settings.terminal_bucket_s,
        "SNAPSHOT_TTL": retention.snapshot_s,
    }
    lib = _read("lib")
    return {
        name: Script.of(name, render(lib + "\n" + _read(name), values)) for name in ENTITY_SCRIPTS
    }
