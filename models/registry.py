"""Versioned model snapshots in Redis: one learner publishes, every scorer follows.

Keys (``{role}`` is a hash tag, so a role's keys share a Redis Cluster slot):

- ``verdict:model:{fraud}:v12``: a hash, ``blob`` (the pickled model) and ``meta`` (JSON:
  version, role, time, what the publisher adds);
- ``verdict:model:{fraud}:current``: the newest version number;
- ``verdict:model:{fraud}:seq``: the counter versions are drawn from;
- channel ``verdict:model:{fraud}:published``: the version number, on each publication.

Only the ``keep`` newest versions are kept. Snapshots are pickles: Redis is trusted
infrastructure here, as it is for the features; never point the registry at a Redis others
can write to.

:class:`Publisher` (the learner's side) publishes every N labels or T seconds.
:class:`LiveModel` (the scorer's side) hands out the current model without touching Redis on
the hot path: a background subscriber loads a new version when its message arrives, and as a
fallback the current version number is read at most once every ``check_every_s``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import pickle
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, cast

import orjson
import redis

from events.metrics import Metrics
from models.base import OnlineModel

M = TypeVar("M", bound=OnlineModel)
log = logging.getLogger(__name__)

#: Store a version and move ``current`` forward (never back), drop the one now too old.
_PUBLISH: Final = """
redis.call('HSET', KEYS[1], 'blob', ARGV[2], 'meta', ARGV[3])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[2], ARGV[1]) end
if tonumber(ARGV[4]) > 0 then redis.call('DEL', KEYS[3]) end
redis.call('PUBLISH', KEYS[4], ARGV[1])
return current
"""


@functools.cache
def code_digest() -> str:
    """A digest of the models package's source: a snapshot pickled by other code (an older
    release, say) is not loaded into this one, whose classes may have changed shape."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class ModelRegistry:
    """Model versions of each role (``fraud``, ``anomaly``...) in Redis.

    Parameters
    ----------
    client
        A Redis client (bytes responses: ``decode_responses`` off).
    prefix
        Prefix of every key.
    keep
        Versions kept per role; older ones are deleted on publication.
    """

    def __init__(self, client: redis.Redis, prefix: str = "verdict:model", keep: int = 5) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.client = client
        self.prefix = prefix
        self.keep = keep
        self._publish = client.register_script(_PUBLISH)

    def key(self, role: str, what: str) -> str:
        """The key of ``what`` (``current``, ``seq``, ``v3``, ``published``) of a role."""
        return f"{self.prefix}:{{{role}}}:{what}"

    def publish(self, role: str, model: OnlineModel, **meta: Any) -> int:
        """Store ``model`` as the next version of ``role``; its version number."""
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        version = int(self.client.incr(self.key(role, "seq")))
        info = {"version": version, "role": role, "published_at": time.time(), **meta}
        old = version - self.keep
        self._publish(
            keys=[
                self.key(role, f"v{version}"),
                self.key(role, "current"),
                self.key(role, f"v{old}"),
                self.key(role, "published"),
            ],
            args=[version, blob, orjson.dumps(info), old],
        )
        return version

    def current_version(self, role: str) -> int | None:
        """The newest version of ``role``, or ``None`` when none was published."""
        raw = self.client.get(self.key(role, "current"))
        return int(raw) if raw is not None else None

    def load(self, role: str, version: int | None = None) -> tuple[int, OnlineModel] | None:
        """A version of ``role`` (the current one by default), or ``None`` when it is gone."""
        if version is None:
            version = self.current_version(role)
            if version is None:
                return None
        blob = cast("bytes | None", self.client.hget(self.key(role, f"v{version}"), "blob"))
        if blob is None:
            return None
        model = pickle.loads(blob)
        if not isinstance(model, OnlineModel):
            raise TypeError(f"{role} v{version} is a {type(model).__name__}, not a model")
        return version, model

    def meta(self, role: str, version: int) -> dict[str, Any] | None:
        """What was recorded with a version, or ``None``."""
        raw = cast("bytes | None", self.client.hget(self.key(role, f"v{version}"), "meta"))
        return cast("dict[str, Any]", orjson.loads(raw)) if raw is not None else None

    def versions(self, role: str) -> list[int]:
        """The versions of ``role`` still stored, oldest first."""
        prefix = self.key(role, "v")
        found = [
            int(key.decode()[len(prefix) :]) for key in self.client.scan_iter(match=f"{prefix}*")
        ]
        return sorted(found)


class Publisher:
    """The learner's side: publish ``model`` every ``every_labels`` labels or ``every_s``.

    Call :meth:`learnt` after each label (or batch) and :meth:`tick` from a timer when labels
    are quiet; both publish when one of the two limits is reached and something was learnt.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        role: str,
        model: OnlineModel,
        every_labels: int = 1000,
        every_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.registry = registry
        self.role = role
        self.model = model
        self.every_labels = every_labels
        self.every_s = every_s
        self.clock = clock
        self.metrics = metrics
        self.version: int | None = None
        self.unpublished = 0
        self.total = 0
        self._last = clock()

    def learnt(self, n: int = 1) -> int | None:
        """Count ``n`` labels learnt; the new version when this published one."""
        self.unpublished += n
        self.total += n
        if self.unpublished >= self.every_labels:
            return self.publish()
        return self.tick()

    def tick(self) -> int | None:
        """Publish if ``every_s`` passed since the last publication and labels were learnt."""
        if self.unpublished and self.clock() - self._last >= self.every_s:
            return self.publish()
        return None

    def publish(self) -> int:
        """Publish the model now."""
        self.version = self.registry.publish(
            self.role,
            self.model,
            labels=self.total,
            kind=type(self.model).__name__,
            code=code_digest(),
        )
        self.unpublished = 0
        self._last = self.clock()
        if self.metrics is not None:
            self.metrics.model_versions.labels(role=self.role, event="published").inc()
        return self.version


class LiveModel(Generic[M]):
    """The scorer's side: the current version of a role, reloaded when it changes.

    :meth:`get` costs a clock read on the hot path. A new version is noticed by the background
    subscriber (:meth:`listen`), which loads it and swaps it in, or else by reading the
    current version number, at most once every ``check_every_s``.

    Parameters
    ----------
    registry
        Where the versions are.
    role
        Which role to follow.
    fallback
        The model used until a version exists (version 0).
    check_every_s
        Longest time between two reads of the current version number.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        role: str,
        fallback: M,
        check_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.registry = registry
        self.role = role
        self.check_every_s = check_every_s
        self.clock = clock
        self.metrics = metrics
        self._current: tuple[int, M] = (0, fallback)  # swapped whole: readers never mix two
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._thread: Any = None
        self._pubsub: Any = None

    @property
    def version(self) -> int:
        """The version in use (0: the fallback, no version loaded yet)."""
        return self._current[0]

    @property
    def model(self) -> M:
        """The model in use."""
        return self._current[1]

    @property
    def label(self) -> str:
        """``role:vN``, what a decision records as the version that scored it."""
        return f"{self.role}:v{self.version}"

    def get(self) -> tuple[int, M]:
        """The current version number and model."""
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.check_every_s
            self.refresh()
        return self._current

    def refresh(self, version: int | None = None) -> bool:
        """Load ``version`` (default: the current one) if newer than ours; whether it was."""
        try:
            wanted = version if version is not None else self.registry.current_version(self.role)
            if wanted is None or wanted <= self.version:
                return False
            loaded = self.registry.load(self.role, wanted)
        except redis.RedisError as error:  # keep scoring with the model we have
            log.warning("model registry unavailable for %s: %s", self.role, error)
            return False
        if loaded is None:
            return False
        with self._lock:
            if loaded[0] <= self.version:
                return False
            self._current = (loaded[0], loaded[1])  # type: ignore[assignment]
        if self.metrics is not None:
            self.metrics.model_versions.labels(role=self.role, event="loaded").inc()
        return True

    def listen(self) -> None:
        """Start the background subscriber that loads each new version as it is published."""
        if self._thread is not None:
            return
        self._pubsub = self.registry.client.pubsub(  # type: ignore[no-untyped-call, unused-ignore]
            ignore_subscribe_messages=True
        )

        def on_message(message: dict[str, Any]) -> None:
            self.refresh(int(message["data"]))

        self._pubsub.subscribe(**{self.registry.key(self.role, "published"): on_message})
        self._thread = self._pubsub.run_in_thread(sleep_time=0.1, daemon=True)

    def close(self) -> None:
        """Stop the background subscriber."""
        if self._thread is not None:
            self._thread.stop()
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._pubsub is not None:
            self._pubsub.close()
            self._pubsub = None
