"""Columns to contract JSONL: ``transactions.jsonl``, ``labels.jsonl``, ``customers.jsonl``.

Rows are turned into strings a chunk at a time (numpy formats the times, orjson the lines):
the whole handbook-size run writes in a few seconds, and memory stays flat.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from replay.simulator.config import SCENARIO_NAMES
from replay.simulator.population import SEGMENTS
from replay.simulator.table import (
    BANKS,
    CHANNELS,
    COUNTRY_CODES,
    DIRECTIONS,
    MCCS,
    PURPOSES,
    TX_TYPES,
    Transactions,
    lookup,
)
from replay.simulator.world import World

#: Rows formatted at a time. Measured on the handbook size: 10,000 rows writes in ~4 s;
#: 100,000 took ~12 s, most of it in the kernel (glibc hands such big buffers to mmap and back).
CHUNK_ROWS: Final = 10_000
#: Field order of a transaction line (absent fields are left out).
TRANSACTION_FIELDS: Final = (
    "tx_id",
    "ts",
    "customer_id",
    "amount",
    "currency",
    "direction",
    "type",
    "channel",
    "terminal_id",
    "mcc",
    "purpose",
    "counterparty_id",
    "counterparty_bank",
    "country",
    "device_id",
    "ip",
)
_LINE: Final = orjson.OPT_APPEND_NEWLINE


def iso_times(seconds: NDArray[np.int64]) -> list[str]:
    """Epoch seconds as ISO-8601 UTC strings with a ``Z``.

    >>> iso_times(np.array([1522567145]))
    ['2018-04-01T07:19:05Z']
    """
    return list(np.datetime_as_string(seconds.astype("datetime64[s]"), timezone="UTC").tolist())


def customer_ids(count: int) -> NDArray[np.object_]:
    """The customer identifiers ``c0000``, ``c0001``... (at least 4 digits).

    >>> customer_ids(3).tolist()
    ['c0000', 'c0001', 'c0002']
    """
    width = max(4, len(str(count - 1)))
    return np.array([f"c{i:0{width}d}" for i in range(count)], dtype=object)


def transaction_ids(first: int, last: int, total: int) -> list[str]:
    """Identifiers of rows ``first .. last - 1`` in time order: ``tx00000001`` onwards."""
    width = max(8, len(str(total)))
    return [f"tx{i:0{width}d}" for i in range(first + 1, last + 1)]


def write_customers(path: Path, world: World) -> int:
    """Write one profile line per customer; how many."""
    people = world.population
    home = COUNTRY_CODES[world.home]
    rows = zip(
        customer_ids(people.customers).tolist(),
        lookup(SEGMENTS)[people.segment].tolist(),
        people.marketing_consent.tolist(),
        iso_times(people.opened_at),
        strict=True,
    )
    with path.open("wb") as out:
        out.write(
            b"".join(
                orjson.dumps(
                    {
                        "customer_id": customer,
                        "home_country": home,
                        "segment": segment,
                        "marketing_consent": consent,
                        "opened_at": opened,
                    },
                    option=_LINE,
                )
                for customer, segment, consent, opened in rows
            )
        )
    return people.customers


def write_transactions_and_labels(
    tx_path: Path,
    labels_path: Path,
    tx: Transactions,
    world: World,
    *,
    on_rows: Callable[[int], None] | None = None,
) -> int:
    """Write ``tx`` (already in time order) and their labels, chunk by chunk.

    A label is known ``label_delay_s`` after its transaction; with one delay for all, labels
    come out in time order too. With ``fraud_labels_only`` only fraud is labelled.

    Returns
    -------
    int
        How many labels were written.
    """
    config = world.config
    tables = _Lookups(world)
    labels = 0
    with tx_path.open("wb") as tx_out, labels_path.open("wb") as label_out:
        for lo in range(0, len(tx), CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, len(tx))
            chunk = tx.take(np.arange(lo, hi))
            ids = transaction_ids(lo, hi, len(tx))
            customers = tables.customer[chunk.customer].tolist()
            tx_out.write(_transaction_lines(chunk, ids, customers, tables, config.currency))
            wanted = chunk.fraud >= 0 if config.fraud_labels_only else np.ones(hi - lo, bool)
            label_out.write(
                _label_lines(chunk, ids, customers, wanted, tables, config.label_delay_s)
            )
            labels += int(wanted.sum())
            if on_rows is not None:
                on_rows(hi - lo)
    return labels


class _Lookups:
    """Code -> string tables of one run (index ``-1`` is ``None``)."""

    def __init__(self, world: World) -> None:
        self.customer = customer_ids(world.config.customers)
        self.names = world.names.lookup()
        self.direction = lookup(DIRECTIONS)
        self.tx_type = lookup(TX_TYPES)
        self.channel = lookup(CHANNELS)
        self.mcc = lookup(MCCS)
        self.purpose = lookup(PURPOSES)
        self.bank = lookup(BANKS)
        self.country = lookup(COUNTRY_CODES)
        self.scenario = lookup(SCENARIO_NAMES)


def _transaction_lines(
    chunk: Transactions,
    ids: list[str],
    customers: list[str],
    tables: _Lookups,
    currency: str,
) -> bytes:
    names = tables.names
    # Most rows are plain card payments with the same fields: one dict literal for them,
    # the general (absent fields left out) path for the rest.
    plain = (
        (chunk.purpose < 0)
        & (chunk.counterparty < 0)
        & (chunk.bank < 0)
        & (chunk.device < 0)
        & (chunk.ip < 0)
        & (chunk.terminal >= 0)
        & (chunk.mcc >= 0)
        & (chunk.channel >= 0)
        & (chunk.country >= 0)
    ).tolist()
    columns: tuple[list[Any], ...] = (
        ids,
        iso_times(chunk.ts),
        customers,
        chunk.amount.tolist(),
        [currency] * len(ids),
        tables.direction[chunk.direction].tolist(),
        tables.tx_type[chunk.tx_type].tolist(),
        tables.channel[chunk.channel].tolist(),
        names[chunk.terminal].tolist(),
        tables.mcc[chunk.mcc].tolist(),
        tables.purpose[chunk.purpose].tolist(),
        names[chunk.counterparty].tolist(),
        tables.bank[chunk.bank].tolist(),
        tables.country[chunk.country].tolist(),
        names[chunk.device].tolist(),
        names[chunk.ip].tolist(),
    )
    dumps = orjson.dumps
    return b"".join(
        dumps(
            {
                "tx_id": row[0],
                "ts": row[1],
                "customer_id": row[2],
                "amount": row[3],
                "currency": row[4],
                "direction": row[5],
                "type": row[6],
                "channel": row[7],
                "terminal_id": row[8],
                "mcc": row[9],
                "country": row[13],
            },
            option=_LINE,
        )
        if is_plain
        else dumps(
            {
                key: value
                for key, value in zip(TRANSACTION_FIELDS, row, strict=True)
                if value is not None
            },
            option=_LINE,
        )
        for is_plain, row in zip(plain, zip(*columns, strict=True), strict=True)
    )


def _label_lines(
    chunk: Transactions,
    ids: list[str],
    customers: list[str],
    wanted: NDArray[np.bool_],
    tables: _Lookups,
    delay_s: int,
) -> bytes:
    rows = np.flatnonzero(wanted)
    fraud = chunk.fraud[rows]
    pick = rows.tolist()
    dumps = orjson.dumps
    return b"".join(
        dumps(
            {
                "tx_id": ids[row],
                "is_fraud": scenario is not None,
                "ts": ts,
                "source": "customer" if scenario is None else "chargeback",
                "customer_id": customers[row],
                "scenario": scenario,
            },
            option=_LINE,
        )
        for row, ts, scenario in zip(
            pick,
            iso_times(chunk.ts[rows] + delay_s),
            tables.scenario[fraud].tolist(),
            strict=True,
        )
    )
