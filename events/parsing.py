"""Bytes in, a typed record or one clear error out.

>>> raw = b'{"tx_id": "t1", "ts": 1772362800, "customer_id": "c42", "amount": 12.5}'
>>> tx = parse_transaction(raw)
>>> tx.amount, tx.currency, tx.direction
(12.5, 'EUR', 'debit')
>>> parse_transaction(b'{"tx_id": "t1", "ts": "yesterday", "customer_id": "c42", "amount": -3}')
Traceback (most recent call last):
...
events.errors.EventValidationError: ts: is not an ISO-8601 time: 'yesterday'; amount: must be >= 0
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import orjson
import pydantic
from pydantic_core import ErrorDetails

from events.errors import EventValidationError, FieldProblem, MalformedPayloadError
from events.records import (
    DEFAULT_CURRENCY,
    IDENTIFIER_PATTERN,
    CustomerProfile,
    Event,
    Label,
    OfferResponse,
    Transaction,
)

#: Largest single event accepted (bytes); bigger ones are rejected before parsing.
MAX_EVENT_BYTES: Final = 64 * 1024

E = TypeVar("E", bound=Event)

#: The record type of each input topic.
EVENT_TYPES: Final[dict[str, type[Event]]] = {
    "transactions": Transaction,
    "customers": CustomerProfile,
    "labels": Label,
    "offer-responses": OfferResponse,
}

_PATTERN_HINTS: Final = {
    "mcc": "must be a 4-digit ISO 18245 merchant category code",
    "purpose": "must be a 4-character ISO 20022 purpose code (e.g. SALA)",
    "counterparty_bank": "must be a BIC (8 or 11 characters) or 'own'",
    "ip": "must be an IPv4 or IPv6 address",
}
_IDENTIFIER_HINT: Final = "must be 1-128 characters without spaces, control characters or braces"
_IDENTIFIER: Final = re.compile(IDENTIFIER_PATTERN)


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(part) for part in loc if part != "[key]"]
    return ".".join(parts) if parts else "$"


def _problem(error: ErrorDetails) -> str:
    kind, message, ctx = error["type"], error["msg"], error.get("ctx") or {}
    field = str(error["loc"][0]) if error["loc"] else "$"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx.get("error", message))
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']:g}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']:g}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("float_type", "int_type", "float_parsing"):
        return "must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be a string"
    if kind in ("dict_type", "model_type"):
        return "must be a JSON object"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        if error["loc"][-1] == "[key]":
            return "attribute names must be identifiers (letters, digits, _; at most 64)"
        return _PATTERN_HINTS.get(field, _IDENTIFIER_HINT)
    if kind in ("string_too_short", "string_too_long"):
        return _IDENTIFIER_HINT if field.endswith("_id") else message[0].lower() + message[1:]
    return message[0].lower() + message[1:]


def _problems(error: pydantic.ValidationError) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    seen: set[str] = set()
    for detail in error.errors(include_url=False, include_input=False):
        path = _field_path(detail["loc"])
        if path in seen:  # a union reports each member; the first says enough
            continue
        seen.add(path)
        problems.append(FieldProblem(path, _problem(detail)))
    return problems


def parse_event(
    record_type: type[E],
    raw: bytes | str | Mapping[str, Any],
    *,
    default_currency: str = DEFAULT_CURRENCY,
) -> E:
    """Parse ``raw`` (JSON bytes or text, or an already decoded mapping) into ``record_type``.

    Raises
    ------
    EventValidationError
        Naming every field that is wrong and what is wrong with it. Nothing else escapes:
        arbitrary bytes give this error or a record.
    """
    kind = record_type.__name__
    context = {"default_currency": default_currency}
    try:
        if isinstance(raw, bytes | bytearray | memoryview | str):
            if len(raw) > MAX_EVENT_BYTES:
                raise MalformedPayloadError(
                    f"is {len(raw)} bytes, more than the limit of {MAX_EVENT_BYTES}", kind
                )
            return record_type.model_validate_json(raw, context=context)
        if not isinstance(raw, Mapping):
            raise MalformedPayloadError("must be a JSON object", kind)
        return record_type.model_validate(raw, context=context)
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise MalformedPayloadError(f"is not valid JSON ({first['msg'][14:]})", kind) from None
        if first["type"] == "model_type" and not first["loc"]:
            raise MalformedPayloadError("must be a JSON object", kind) from None
        raise EventValidationError(_problems(error), kind) from None
    except RecursionError:
        raise MalformedPayloadError("is nested too deeply", kind) from None


def check_identifier(value: str, field: str) -> str:
    """``value`` when it is a valid identifier, else an error naming ``field``.

    >>> check_identifier("c42", "customer_id")
    'c42'
    """
    if not 1 <= len(value) <= 128 or _IDENTIFIER.fullmatch(value) is None:
        raise EventValidationError([FieldProblem(field, _IDENTIFIER_HINT)], "identifier")
    return value


def json_object(raw: bytes | str, kind: str = "event") -> dict[str, Any]:
    """Decode a JSON object, or raise the same error :func:`parse_event` gives for bad JSON."""
    if len(raw) > MAX_EVENT_BYTES:
        raise MalformedPayloadError(
            f"is {len(raw)} bytes, more than the limit of {MAX_EVENT_BYTES}", kind
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedPayloadError(f"is not valid JSON ({error})", kind) from None
    if not isinstance(body, dict):
        raise MalformedPayloadError("must be a JSON object", kind)
    return body


def parse_transaction(
    raw: bytes | str | Mapping[str, Any], *, default_currency: str = DEFAULT_CURRENCY
) -> Transaction:
    """Parse one transaction (see :func:`parse_event`)."""
    return parse_event(Transaction, raw, default_currency=default_currency)


def parse_customer(raw: bytes | str | Mapping[str, Any]) -> CustomerProfile:
    """Parse one customer profile (see :func:`parse_event`)."""
    return parse_event(CustomerProfile, raw)


def parse_label(raw: bytes | str | Mapping[str, Any]) -> Label:
    """Parse one label (see :func:`parse_event`)."""
    return parse_event(Label, raw)


def parse_offer_response(raw: bytes | str | Mapping[str, Any]) -> OfferResponse:
    """Parse one offer response (see :func:`parse_event`)."""
    return parse_event(OfferResponse, raw)


def to_json(record: pydantic.BaseModel) -> bytes:
    """The contract's JSON for a record: times as ISO-8601, defaults included.

    >>> label = {"tx_id": "t1", "is_fraud": True, "ts": 1772362800, "source": "analyst"}
    >>> to_json(parse_label(label))
    b'{"tx_id":"t1","is_fraud":true,"ts":"2026-03-01T11:00:00Z","source":"analyst","customer_id":null}'
    """
    return record.model_dump_json().encode()


def to_dict(record: pydantic.BaseModel) -> dict[str, Any]:
    """The record as a JSON-ready dict (times as ISO-8601)."""
    result: dict[str, Any] = orjson.loads(record.model_dump_json())
    return result
