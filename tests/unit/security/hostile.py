"""Hostile messages for every input topic: a fixed corpus and a hypothesis strategy.

Each topic has a valid event to start from; garbage is bytes that are not JSON, JSON that is
not an object, deep nesting, oversized bodies, and the valid event with one field made hostile
(wrong type, NaN, infinities, numbers beyond any float, times far in the past or future,
unknown currencies and countries).
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson
from hypothesis import strategies as st

from events import topics
from events.errors import EventValidationError
from events.parsing import EVENT_TYPES, parse_event

T0: Final = 1_772_445_600  # 2026-03-02 10:00 UTC


def good_event(topic: str, i: int) -> dict[str, Any]:
    """The ``i``-th valid event of ``topic`` (ids unique per ``i``)."""
    if topic == topics.TRANSACTIONS:
        return {"tx_id": f"good-{i}", "ts": T0 + i, "customer_id": f"c{i % 7}",
                "amount": 10.0 + i, "currency": "EUR", "terminal_id": f"t{i % 3}"}  # fmt: skip
    if topic == topics.LABELS:
        return {"tx_id": f"good-{i}", "is_fraud": i % 2 == 0, "ts": T0 + i, "source": "analyst"}
    if topic == topics.OFFER_RESPONSES:
        return {"trigger_id": f"g{i}", "customer_id": f"c{i}", "ts": T0 + i, "accepted": True}
    return {"customer_id": f"c{i}", "home_country": "FR", "ts": T0 + i}


#: Raw JSON texts no field of any input event accepts (``null`` only the required ones).
BAD_VALUES: Final = (
    b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1" + b"0" * 400,
    b"[]", b"{}", b'{"a": [1, {"b": null}]}', b"[" * 300 + b"]" * 300,
)  # fmt: skip
#: Raw JSON texts that are hostile for a field of a given name.
BAD_FOR_FIELD: Final = {
    "ts": (b"-1e20", b"1e20", b"0", b'"0001-01-01T00:00:00Z"', b'"9999-12-31T23:59:59Z"',
           b'"2026-03-02T10:00:00"', b'"soon"', b"true"),
    "amount": (b"-1", b'"12.5"', b"1e14", b"true"),
    "currency": (b'"ZZZ"', b'"eur"', b'""', b"978"),
    "home_country": (b'"XX"', b'"fr"', b'""', b"250"),
    "tx_id": (b'""', b'"a b"', b'"{c}"', orjson.dumps("x" * 129), b"12"),
    "customer_id": (b'""', b'"a\\tb"', b'"{c}"', b"12"),
    "is_fraud": (b'"yes"', b"1"),
    "accepted": (b'"true"', b"0"),
    "source": (b'"robot"',),
}  # fmt: skip


def with_raw(event: dict[str, Any], field: str, raw: bytes) -> bytes:
    """``event`` as JSON with ``field`` set to the raw JSON text ``raw``."""
    others = orjson.dumps({k: v for k, v in event.items() if k != field})
    return (
        others[:-1] + (b"," if len(others) > 2 else b"") + orjson.dumps(field) + b":" + raw + b"}"
    )


def corpus(topic: str) -> list[bytes | None]:
    """Messages ``topic`` must dead-letter, every one."""
    event = good_event(topic, 10_000)
    found: list[bytes | None] = [
        None, b"", b"\xff\xfe\x00garbage", b"null", b"[]", b"42", b'"text"', b"{" * 20_000,
        b"[" * 5_000 + b"]" * 5_000, orjson.dumps({**event, "pad": "x" * 100_000}),
        json.dumps({k: [v] for k, v in event.items()}).encode(),
    ]  # fmt: skip
    fields = EVENT_TYPES[topic].model_fields
    for name in event:
        hostile = BAD_VALUES + BAD_FOR_FIELD.get(name, ())
        hostile += (b"null",) if fields[name].is_required() else ()
        found += [with_raw(event, name, raw) for raw in hostile]
    return found


def is_valid(topic: str, value: bytes | None) -> bool:
    """Whether the parser accepts ``value`` as an event of ``topic``."""
    try:
        parse_event(EVENT_TYPES[topic], value or b"")
    except EventValidationError:
        return False
    return True


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def garbage(topic: str) -> st.SearchStrategy[bytes | None]:
    """Hostile messages for ``topic``: the corpus, random bytes, or one field made random."""
    event = good_event(topic, 20_000)
    mutated = st.builds(
        lambda field, value: with_raw(event, field, json.dumps(value).encode()),
        st.sampled_from(sorted(event)),
        json_values,
    )
    return st.sampled_from(corpus(topic)) | st.binary(max_size=300) | mutated
