"""Property tests: whatever arrives, parsing gives a record or our own error, nothing else."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from events import EVENT_TYPES, EventValidationError, Transaction, parse_event, to_json
from events.iso import COUNTRIES, CURRENCIES

FIELDS = sorted({name for record in EVENT_TYPES.values() for name in record.model_fields})

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
hostile_objects = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=len(FIELDS)
)


@settings(max_examples=400)
@given(raw=st.binary(max_size=512), kind=st.sampled_from(sorted(EVENT_TYPES)))
def test_arbitrary_bytes_give_a_record_or_our_error(raw: bytes, kind: str) -> None:
    try:
        parse_event(EVENT_TYPES[kind], raw)
    except EventValidationError as error:
        assert error.problems and error.to_dict()["problems"]


@settings(max_examples=400)
@given(body=hostile_objects, kind=st.sampled_from(sorted(EVENT_TYPES)))
def test_arbitrary_json_objects_give_a_record_or_our_error(body: dict[str, Any], kind: str) -> None:
    known = set(EVENT_TYPES[kind].model_fields) | {"$"}
    for raw in (json.dumps(body).encode(), body):  # bytes (NaN, huge ints too) and a mapping
        try:
            parse_event(EVENT_TYPES[kind], raw)
        except EventValidationError as error:
            assert all(p.field.split(".")[0] in known for p in error.problems)


identifiers = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=30,
).filter(lambda s: not any(c in s for c in "{}") and not any(c.isspace() for c in s))

valid_transactions = st.fixed_dictionaries(
    {
        "tx_id": identifiers,
        "ts": st.floats(min_value=1e9, max_value=4e9),
        "customer_id": identifiers,
        "amount": st.floats(min_value=0, max_value=1e9),
    },
    optional={
        "currency": st.sampled_from(sorted(CURRENCIES)),
        "country": st.sampled_from(sorted(COUNTRIES)),
        "direction": st.sampled_from(["debit", "credit"]),
        "channel": st.sampled_from(["pos", "ecom", "atm", "mobile", "branch"]),
        "mcc": st.from_regex(r"\A[0-9]{4}\Z"),
        "attributes": st.dictionaries(
            st.from_regex(r"\A[a-z_][a-z0-9_]{0,10}\Z"),
            st.floats(allow_nan=False, allow_infinity=False),
            max_size=5,
        ),
    },
)


@settings(max_examples=300)
@given(body=valid_transactions)
def test_valid_transactions_parse_and_round_trip(body: dict[str, Any]) -> None:
    tx = parse_event(Transaction, orjson.dumps(body))
    assert tx.tx_id == body["tx_id"] and math.isclose(tx.ts, body["ts"], abs_tol=1e-6)
    again = parse_event(Transaction, to_json(tx))
    assert again.model_dump(exclude={"ts"}) == tx.model_dump(exclude={"ts"})
    assert math.isclose(again.ts, tx.ts, abs_tol=1e-6)
