"""Reading the policy file: TOML in, a validated :class:`~decisions.policy.Policy` out.

Every problem names its line: TOML syntax errors come with one from :mod:`tomllib`, and schema
errors (pydantic's locations such as ``rules.limits[1].max``) are mapped back to the line of
the key, or of the table that lacks it, by a small scan of the source. :class:`PolicyHolder`
keeps the current policy and reloads it when the file changes, without a restart; a file that
does not validate leaves the last good policy in place.

>>> text = '[thresholds]\\nfraud_review = 0.9\\nfraud_decline = 0.7\\n'
>>> try:
...     parse_policy(text, "p.toml")
... except PolicyError as error:
...     print(error)
p.toml:3: thresholds.fraud_decline: must be at least fraud_review (0.9)
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from decisions.policy import Policy
from decisions.schema import Loc
from decisions.settings import DecisionSettings
from events.errors import VerdictError
from events.metrics import Metrics

log = logging.getLogger(__name__)

#: The packaged default policy (policies/default.toml at the repository root is a copy).
DEFAULT_POLICY: Final = "default_policy.toml"

_TOML_LINE: Final = re.compile(r"\(at line (\d+), column \d+\)")
_KEY_PART: Final = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*""")


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy file: where (line, dotted path) and what."""

    line: int | None
    path: str
    message: str

    def describe(self, source: str) -> str:
        """``source:line: path: message``."""
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PolicyError(VerdictError, ValueError):
    """A policy file that cannot be read or does not satisfy the schema."""

    http_status = 422
    code = "invalid_policy"

    def __init__(self, source: str, problems: Sequence[PolicyProblem]) -> None:
        if not problems:
            raise ValueError("a PolicyError needs at least one problem")
        self.source = source
        self.problems = tuple(problems)
        super().__init__("; ".join(problem.describe(source) for problem in self.problems))

    @property
    def line(self) -> int | None:
        """The line of the first problem."""
        return self.problems[0].line

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": str(self),
            "problems": [
                {"line": p.line, "path": p.path, "problem": p.message} for p in self.problems
            ],
        }


def _split_key(text: str) -> tuple[str, ...] | None:
    """A TOML key (``a."b.c".d``) as its parts, or ``None`` when it does not parse."""
    parts: list[str] = []
    position = 0
    while True:
        match = _KEY_PART.match(text, position)
        if match is None:
            return None
        basic, literal, bare = match.groups()
        parts.append(basic if basic is not None else literal if literal is not None else bare)
        position = match.end()
        if position == len(text):
            return tuple(parts)
        if text[position] != ".":
            return None
        position += 1


def key_lines(text: str) -> dict[Loc, int]:
    """Where each table and key of a TOML document starts: location -> line (1-based).

    Locations are those of the parsed document, with the index of array-of-tables entries
    (``("rules", "limits", 1, "max")``). The scan is deliberately simple (it skips multi-line
    strings and does not descend into inline tables); a location it does not know is looked
    up by its longest known prefix.

    >>> key_lines('[a]\\nx = 1\\n[[b.c]]\\ny = 2\\n[[b.c]]\\ny = 3\\n')[("b", "c", 1, "y")]
    6
    """
    lines: dict[Loc, int] = {}
    arrays: dict[Loc, int] = {}
    table: Loc = ()
    closing: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if closing is not None:
            if closing in line:
                closing = None
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            is_array = line.startswith("[[")
            end = line.find("]]" if is_array else "]")
            parts = _split_key(line[2 if is_array else 1 : end]) if end > 0 else None
            if parts is None:
                continue
            table = (*_resolve(parts[:-1], arrays), parts[-1])
            if is_array:
                index = arrays.get(table, -1) + 1
                arrays[table] = index
                lines.setdefault(table, number)
                table = (*table, index)
            lines[table] = number
            continue
        key, equals, value = line.partition("=")
        parts = _split_key(key) if equals else None
        if parts is None:
            continue
        lines[(*table, *parts)] = number
        value = value.strip()
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                closing = quote
    return lines


def _resolve(parts: tuple[str, ...], arrays: dict[Loc, int]) -> Loc:
    """Insert the current index after every array-of-tables prefix of a header's key."""
    resolved: Loc = ()
    for part in parts:
        resolved = (*resolved, part)
        if resolved in arrays:
            resolved = (*resolved, arrays[resolved])
    return resolved


def line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """The line of ``loc``, or of its longest known prefix."""
    for end in range(len(loc), 0, -1):
        found = lines.get(loc[:end])
        if found is not None:
            return found
    return None


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _message(error: dict[str, Any]) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    return message


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate the TOML ``text`` of a policy; ``source`` names it in errors.

    Raises
    ------
    PolicyError
        Naming the line and the key of every problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = _TOML_LINE.search(str(error))
        line = int(found.group(1)) if found else None
        message = _TOML_LINE.sub("", str(error)).strip()
        raise PolicyError(source, [PolicyProblem(line, "", f"not valid TOML: {message}")]) from None
    try:
        policy = Policy.model_validate(data)
    except ValidationError as error:
        lines = key_lines(text)
        problems = [
            PolicyProblem(line_of(e["loc"], lines), _dotted(e["loc"]), _message(dict(e)))
            for e in error.errors(include_url=False)
        ]
        problems.sort(key=lambda p: p.line or 0)
        raise PolicyError(source, problems) from None
    return policy.with_digest(hashlib.sha256(text.encode()).hexdigest())


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in the file at ``path``; the packaged default when ``path`` is ``None``."""
    if path is None:
        text = resources.files("decisions").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
        return parse_policy(text, f"decisions/{DEFAULT_POLICY}")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyError(str(path), [PolicyProblem(None, "", f"cannot read: {error}")]) from None
    return parse_policy(text, str(path))


class PolicyHolder:
    """The current policy; re-reads its file when it changes, keeping the last good policy.

    :meth:`current` checks the file's modification time and size at most every
    ``interval_s`` seconds (``0``: never; :meth:`reload` still works), so the hot path pays one
    clock read per call. A file that fails to load is logged, counted and remembered, and the
    previous policy stays in force until the file is fixed.

    >>> holder = PolicyHolder(Policy(version="v1"))
    >>> holder.current().version
    'v1'
    """

    def __init__(
        self,
        policy: Policy,
        path: Path | None = None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self._policy = policy
        self.path = path
        self.interval_s = interval_s
        self._clock = clock
        self._metrics = metrics
        self._next_check = clock() + interval_s
        self._stamp = self._stat()
        self._lock = threading.Lock()
        #: The error of the latest failed load, ``None`` after a good one.
        self.last_error: PolicyError | None = None

    @classmethod
    def from_file(
        cls,
        path: Path | None,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> PolicyHolder:
        """Load ``path`` (the packaged default when ``None``); raise :class:`PolicyError` if bad."""
        return cls(load_policy(path), path, interval_s, clock, metrics)

    @classmethod
    def from_settings(
        cls, settings: DecisionSettings, metrics: Metrics | None = None
    ) -> PolicyHolder:
        """The holder the settings ask for (``decisions.policy_path``, ``reload_interval_s``)."""
        return cls.from_file(settings.policy_path, settings.reload_interval_s, metrics=metrics)

    def current(self) -> Policy:
        """The policy in force (re-read first if the file changed and the interval is up)."""
        if self.path is not None and self.interval_s > 0 and self._clock() >= self._next_check:
            self._check()
        return self._policy

    @property
    def version(self) -> str:
        """The version of the policy in force."""
        return self._policy.policy_version

    def reload(self) -> Policy:
        """Re-read the file now; raise :class:`PolicyError` (keeping the old policy) if bad."""
        if self.path is None:
            return self._policy
        with self._lock:
            self._stamp = self._stat()
            return self._load()

    def _check(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reloading: keep deciding with the current policy
        try:
            self._next_check = self._clock() + self.interval_s
            stamp = self._stat()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                self._load()
            except PolicyError as error:
                log.error("policy not reloaded, keeping %s: %s", self.version, error)
        finally:
            self._lock.release()

    def _load(self) -> Policy:
        try:
            policy = load_policy(self.path)
        except PolicyError as error:
            self.last_error = error
            self._count("invalid")
            raise
        self.last_error = None
        if policy.digest != self._policy.digest:
            log.info("policy %s in force, was %s", policy.policy_version, self.version)
            self._policy = policy
            self._count("loaded")
        return self._policy

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _count(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.policy_reloads.labels(result=result).inc()
