"""Block and allow lists: sets of identifiers, editable at run time, in Redis or in memory.

The policy says which lists exist and what a member means (:class:`~decisions.rules.ListRule`);
the members live here. On Redis a list is the set ``<prefix>:list:<name>`` (``SADD`` to add,
``SREM`` to remove, from any client, no restart), and the lists of a transaction, or of a
whole batch, are looked up in one round trip (one ``SMISMEMBER`` per list, Redis 6.2+).

>>> lists = InMemoryListStore()
>>> lists.add("blocked_customers", ["c42"])
1
>>> sorted(lists.hits([("blocked_customers", "c42"), ("blocked_devices", "d1")]))
['blocked_customers']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import redis
from redis.exceptions import ResponseError

from state.redis_commands import pack
from state.redis_wire import Pending, unavailable

#: The answer to a lookup already sent: call it for the hits (it waits for them if need be).
Answer = Callable[[], list[frozenset[str]]]


class ListStore(Protocol):
    """Named sets of identifiers."""

    def hits(self, probes: Sequence[tuple[str, str]]) -> frozenset[str]:
        """The names of the lists that hold their value, of ``(list name, value)`` probes."""
        ...

    def hits_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> list[frozenset[str]]:
        """:meth:`hits` for each probe set of a batch, in one round trip."""
        ...

    def ask_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> Answer:
        """:meth:`hits_many`, sent now and read when the answer is called: the caller's own
        round trips overlap this one."""
        ...

    def add(self, name: str, values: Iterable[str]) -> int:
        """Add values to a list; how many were new."""
        ...

    def remove(self, name: str, values: Iterable[str]) -> int:
        """Remove values from a list; how many were there."""
        ...

    def members(self, name: str) -> frozenset[str]:
        """Every value of a list (for administration, not for the hot path)."""
        ...


class InMemoryListStore:
    """Lists in the process (tests, backtests)."""

    def __init__(self) -> None:
        self._lists: dict[str, set[str]] = {}

    def hits(self, probes: Sequence[tuple[str, str]]) -> frozenset[str]:
        """See :meth:`ListStore.hits`."""
        lists = self._lists
        return frozenset(name for name, value in probes if value in lists.get(name, ()))

    def hits_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> list[frozenset[str]]:
        """See :meth:`ListStore.hits_many`."""
        return [self.hits(probes) for probes in batch]

    def ask_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> Answer:
        """See :meth:`ListStore.ask_many` (answered at once)."""
        found = self.hits_many(batch)
        return lambda: found

    def add(self, name: str, values: Iterable[str]) -> int:
        """See :meth:`ListStore.add`."""
        members = self._lists.setdefault(name, set())
        before = len(members)
        members.update(values)
        return len(members) - before

    def remove(self, name: str, values: Iterable[str]) -> int:
        """See :meth:`ListStore.remove`."""
        members = self._lists.get(name, set())
        before = len(members)
        members.difference_update(values)
        return before - len(members)

    def members(self, name: str) -> frozenset[str]:
        """See :meth:`ListStore.members`."""
        return frozenset(self._lists.get(name, ()))


class RedisListStore:
    """Lists as Redis sets ``<prefix>:list:<name>``; one round trip per lookup or batch.

    Parameters
    ----------
    client
        A Redis client (``decode_responses`` either way) that does not retry
        (``state.redis_wire.client_from_settings``), so a Redis that is down costs one timeout.
    prefix
        Key prefix (settings ``decisions.key_prefix``).
    """

    def __init__(self, client: redis.Redis, prefix: str = "verdict") -> None:
        self._client = client
        self._prefix = prefix

    def key(self, name: str) -> str:
        """The Redis key of list ``name``."""
        return f"{self._prefix}:list:{name}"

    def hits(self, probes: Sequence[tuple[str, str]]) -> frozenset[str]:
        """See :meth:`ListStore.hits`."""
        return self.hits_many([probes])[0]

    def hits_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> list[frozenset[str]]:
        """See :meth:`ListStore.hits_many`: one ``SMISMEMBER`` per list for the whole batch,
        in one pipeline (Redis 6.2+)."""
        return self.ask_many(batch)()

    def ask_many(self, batch: Sequence[Sequence[tuple[str, str]]]) -> Answer:
        """See :meth:`ListStore.ask_many`: the ``SMISMEMBER`` commands go out at once, on a
        connection of their own, and are read when the answer is called."""
        wanted: dict[str, dict[str, None]] = {}  # list -> distinct values, in order
        for probes in batch:
            for name, value in probes:
                wanted.setdefault(name, {})[value] = None
        if not wanted:
            nothing = [frozenset[str]() for _ in batch]
            return lambda: nothing
        commands = [
            pack(b"SMISMEMBER", self.key(name).encode(), *(v.encode() for v in values))
            for name, values in wanted.items()
        ]
        pending = Pending(self._client, commands)  # packed: no pipeline object per call

        def answer() -> list[frozenset[str]]:
            replies = pending.replies()
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise unavailable(reply)
            members = {
                name: {value for value, hit in zip(values, found, strict=True) if hit}
                for (name, values), found in zip(wanted.items(), replies, strict=True)
            }
            return [
                frozenset(name for name, value in probes if value in members[name])
                for probes in batch
            ]

        return answer

    def add(self, name: str, values: Iterable[str]) -> int:
        """See :meth:`ListStore.add`."""
        batch = list(values)
        return int(self._client.sadd(self.key(name), *batch)) if batch else 0

    def remove(self, name: str, values: Iterable[str]) -> int:
        """See :meth:`ListStore.remove`."""
        batch = list(values)
        return int(self._client.srem(self.key(name), *batch)) if batch else 0

    def members(self, name: str) -> frozenset[str]:
        """See :meth:`ListStore.members`."""
        raw = self._client.smembers(self.key(name))
        return frozenset(v.decode() if isinstance(v, bytes) else str(v) for v in raw)
