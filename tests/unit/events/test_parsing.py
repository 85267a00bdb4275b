"""The event contracts: what parses, what does not, and how the errors read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from events import (
    CustomerProfile,
    Event,
    EventValidationError,
    Label,
    MalformedPayloadError,
    OfferResponse,
    Transaction,
    parse_customer,
    parse_event,
    parse_label,
    parse_offer_response,
    parse_transaction,
    to_dict,
    to_json,
)
from events.parsing import MAX_EVENT_BYTES

TX: dict[str, Any] = {
    "tx_id": "tx1",
    "ts": "2026-03-01T12:00:00+01:00",
    "customer_id": "c42",
    "amount": 12.5,
}


def _tx(**changes: Any) -> bytes:
    body = {**TX, **changes}
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


def _problem_of(raw: bytes | str | dict[str, Any]) -> EventValidationError:
    with pytest.raises(EventValidationError) as caught:
        parse_transaction(raw)
    return caught.value


def test_minimal_transaction_takes_the_contract_defaults() -> None:
    tx = parse_transaction(_tx())
    assert tx.ts == 1772362800.0
    assert (tx.currency, tx.direction, tx.type) == ("EUR", "debit", "card")
    assert tx.channel is None and tx.attributes == {}
    assert tx.is_debit and not tx.to_other_bank


def test_default_currency_comes_from_the_caller() -> None:
    assert parse_transaction(_tx(), default_currency="CHF").currency == "CHF"
    assert parse_transaction(_tx(currency="USD"), default_currency="CHF").currency == "USD"


def test_full_transaction_keeps_every_field() -> None:
    full = {
        **TX,
        "ts": 1772362800,
        "currency": "GBP",
        "direction": "credit",
        "type": "transfer",
        "channel": "mobile",
        "terminal_id": "t9",
        "mcc": "8062",
        "purpose": "SALA",
        "counterparty_id": "emp-1",
        "counterparty_bank": "DEUTDEFFXXX",
        "country": "GB",
        "device_id": "d1",
        "ip": "2001:db8::1",
        "attributes": {"risk": 0.5, "n": 3},
    }
    tx = parse_transaction(orjson.dumps(full))
    assert tx.purpose == "SALA" and tx.to_other_bank and not tx.is_debit
    assert tx.attributes == {"risk": 0.5, "n": 3.0}


def test_unknown_fields_are_ignored() -> None:
    assert parse_transaction(_tx(card_pan_hash="x", nested={"a": [1]})).tx_id == "tx1"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"tx_id": ...}, "tx_id", "is required"),
        ({"tx_id": ""}, "tx_id", "1-128 characters"),
        ({"customer_id": "a b"}, "customer_id", "without spaces"),
        ({"customer_id": "{c:1}"}, "customer_id", "braces"),
        ({"amount": -3}, "amount", ">= 0"),
        ({"amount": "12.5"}, "amount", "must be a number"),
        ({"amount": True}, "amount", "must be a number"),
        ({"amount": 1e300}, "amount", "<= "),
        ({"ts": "yesterday"}, "ts", "not an ISO-8601 time"),
        ({"ts": "2026-03-01T12:00:00"}, "ts", "no time zone"),
        ({"ts": 10**12}, "ts", "outside"),
        ({"ts": None}, "ts", "ISO-8601"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"country": "UK"}, "country", "ISO 3166"),
        ({"direction": "up"}, "direction", "'debit' or 'credit'"),
        ({"mcc": "80"}, "mcc", "ISO 18245"),
        ({"purpose": "salary"}, "purpose", "ISO 20022"),
        ({"counterparty_bank": "some bank"}, "counterparty_bank", "BIC"),
        ({"attributes": {"risk": "high"}}, "attributes.risk", "must be a number"),
        ({"attributes": {"1risk": 1}}, "attributes.1risk", "identifiers"),
        ({"attributes": [1, 2]}, "attributes", "JSON object"),
    ],
)
def test_a_bad_field_is_named_with_its_problem(
    change: dict[str, Any], field: str, words: str
) -> None:
    error = _problem_of(_tx(**change))
    assert error.field == field
    assert words in str(error)
    assert error.http_status == 422
    body = error.to_dict()
    assert body["problems"][0] == {"field": field, "problem": error.problems[0].problem}


def test_every_bad_field_is_reported_once() -> None:
    error = _problem_of(_tx(amount=-1, currency="XYZ", tx_id=...))
    assert [p.field for p in error.problems] == ["tx_id", "amount", "currency"]


def test_non_finite_attribute_is_rejected() -> None:
    error = _problem_of(
        b'{"tx_id":"a","ts":1772362800,"customer_id":"c","amount":1,"attributes":{"x":NaN}}'
    )
    assert error.field.startswith("attributes")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b'{"tx_id": "a",', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"42", "JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "bytes, more than the limit"),
        (b" " * (MAX_EVENT_BYTES + 1), "bytes, more than the limit"),
    ],
)
def test_malformed_payloads_are_one_clear_error(raw: bytes, words: str) -> None:
    with pytest.raises(MalformedPayloadError) as caught:
        parse_transaction(raw)
    assert caught.value.field == "$"
    assert words in str(caught.value)


def test_deeply_nested_json_within_the_size_limit_is_rejected_cleanly() -> None:
    with pytest.raises(EventValidationError):
        parse_transaction(b'{"x":' * 10_000 + b"1" + b"}" * 10_000)


def test_a_mapping_is_parsed_like_bytes() -> None:
    assert parse_transaction(dict(TX)) == parse_transaction(_tx())
    with pytest.raises(MalformedPayloadError):
        parse_event(Transaction, 42)  # type: ignore[arg-type]


def test_other_contracts_parse_and_name_their_fields() -> None:
    profile = parse_customer(b'{"customer_id": "c1", "home_country": "FR"}')
    assert profile == CustomerProfile(customer_id="c1", home_country="FR")
    assert profile.marketing_consent is True
    label = parse_label(b'{"tx_id": "t", "is_fraud": true, "ts": 1772362800, "source": "analyst"}')
    assert isinstance(label, Label) and label.is_fraud
    response = parse_offer_response(
        b'{"trigger_id": "g1", "customer_id": "c1", "ts": "2026-03-01T00:00:00Z",'
        b' "accepted": false}'
    )
    assert response.accepted is False
    assert response.ts == 1772323200.0


def test_offer_response_accepted_must_be_a_boolean() -> None:
    with pytest.raises(EventValidationError) as caught:
        parse_offer_response(
            b'{"trigger_id": "g1", "customer_id": "c1", "ts": 1772362800, "accepted": "yes"}'
        )
    assert caught.value.field == "accepted"
    assert "true or false" in str(caught.value)


def test_label_source_is_one_of_the_contract() -> None:
    with pytest.raises(EventValidationError) as caught:
        parse_label(b'{"tx_id": "t", "is_fraud": true, "ts": 1772362800, "source": "guess"}')
    assert caught.value.field == "source"


@pytest.mark.parametrize("record_type", [Transaction, CustomerProfile, Label, OfferResponse])
def test_records_round_trip_through_their_json(record_type: type[Event]) -> None:
    samples: dict[type[Event], dict[str, Any]] = {
        Transaction: {**TX, "attributes": {"a": 1.5}, "country": "FR"},
        CustomerProfile: {"customer_id": "c1", "home_country": "DE", "opened_at": 1700000000},
        Label: {"tx_id": "t", "is_fraud": False, "ts": 1772362800.25, "source": "chargeback"},
        OfferResponse: {"trigger_id": "g", "customer_id": "c", "ts": 1772362800, "accepted": True},
    }
    record = parse_event(record_type, samples[record_type])
    assert parse_event(record_type, to_json(record)) == record
    assert parse_event(record_type, to_dict(record)) == record
