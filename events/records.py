"""The input events of the contracts (DESIGN.md, "Event contracts") as typed, frozen records.

Every record ignores unknown fields, holds times as epoch seconds (``float``) and money as a
float in ``currency`` units. Build them from bytes with :mod:`events.parsing`, which turns every
problem into one :class:`events.errors.EventValidationError` naming the field.
"""

from __future__ import annotations

import math
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StrictBool,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from events.eventtime import MAX_EVENT_TIME, MIN_EVENT_TIME, format_event_time, parse_event_time
from events.iso import COUNTRIES, CURRENCIES

#: Largest amount accepted in one event (a typo guard, not a business limit).
MAX_AMOUNT: Final = 1e13
#: Default currency when neither the event nor the parser's settings name one.
DEFAULT_CURRENCY: Final = "EUR"
#: Attributes per transaction, at most (each becomes a model feature).
MAX_ATTRIBUTES: Final = 64


def _check_currency(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"{code[:8]!r} is not an ISO 4217 currency code")
    return code


def _check_country(code: str) -> str:
    if code not in COUNTRIES:
        raise ValueError(f"{code[:8]!r} is not an ISO 3166 alpha-2 country code")
    return code


def _check_attributes(values: dict[str, float]) -> dict[str, float]:
    if len(values) > MAX_ATTRIBUTES:
        raise ValueError(f"has {len(values)} entries, at most {MAX_ATTRIBUTES} are allowed")
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name!r} must be a finite number")
    return {name: float(value) for name, value in values.items()}


#: Event time: ISO-8601 with a zone or epoch seconds in; epoch seconds held; ISO-8601 out.
EventTime = Annotated[
    float,
    BeforeValidator(parse_event_time),
    PlainSerializer(format_event_time, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "minimum": MIN_EVENT_TIME, "maximum": MAX_EVENT_TIME},
            ],
            "description": "ISO-8601 time with a zone, or epoch seconds.",
        }
    ),
]
#: What an identifier may hold (see :data:`Identifier`).
IDENTIFIER_PATTERN: Final = r"^[^\s{}\x00-\x1f]+$"
#: An identifier: 1-128 characters, no whitespace, control characters or braces (braces would
#: break the Redis Cluster hash tags built from it).
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN)]
Currency = Annotated[str, AfterValidator(_check_currency)]
Country = Annotated[str, AfterValidator(_check_country)]
Amount = Annotated[float, Strict(), Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
AttributeName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Attributes = Annotated[
    dict[AttributeName, Annotated[float, Strict()]], AfterValidator(_check_attributes)
]

Direction = Literal["debit", "credit"]
TxType = Literal["card", "transfer", "cash", "bill"]
Channel = Literal["pos", "ecom", "atm", "mobile", "branch"]
LabelSource = Literal["chargeback", "analyst", "customer"]


class Event(BaseModel):
    """Base of every contract record: frozen, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)


class Transaction(Event):
    """A payment or transfer to decide on (topic ``transactions``, ``POST /v1/decisions``)."""

    tx_id: Identifier
    ts: EventTime
    customer_id: Identifier
    amount: Amount
    currency: Currency | None = Field(default=None, validate_default=True)
    direction: Direction = "debit"
    type: TxType = "card"
    channel: Channel | None = None
    terminal_id: Identifier | None = None
    mcc: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = None
    purpose: Annotated[str, Field(pattern=r"^[A-Z0-9]{4}$")] | None = None
    counterparty_id: Identifier | None = None
    counterparty_bank: (
        Annotated[str, Field(pattern=r"^(own|[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?)$")] | None
    ) = None
    country: Country | None = None
    device_id: Identifier | None = None
    ip: Annotated[str, Field(min_length=2, max_length=45, pattern=r"^[0-9A-Fa-f:.]+$")] | None = (
        None
    )
    attributes: Attributes = Field(default_factory=dict)

    @field_validator("currency", mode="after")
    @classmethod
    def _default_currency(cls, value: str | None, info: ValidationInfo) -> str:
        if value is not None:
            return value
        context = info.context or {}
        return str(context.get("default_currency", DEFAULT_CURRENCY))

    @property
    def is_debit(self) -> bool:
        """Money leaving the customer."""
        return self.direction == "debit"

    @property
    def to_other_bank(self) -> bool:
        """A transfer whose counterparty banks elsewhere."""
        return self.counterparty_bank not in (None, "own")


class CustomerProfile(Event):
    """A customer's profile (topic ``customers``, compacted; ``PUT /v1/customers/{id}``)."""

    customer_id: Identifier
    home_country: Country
    segment: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    marketing_consent: StrictBool = True
    opened_at: EventTime | None = None
    ts: EventTime | None = None


class Label(Event):
    """The truth about a past transaction, known at ``ts`` (topic ``labels``).

    ``customer_id`` is optional (not in the contract): when present it keys the message.
    """

    tx_id: Identifier
    is_fraud: StrictBool
    ts: EventTime
    source: LabelSource
    customer_id: Identifier | None = None


class OfferResponse(Event):
    """A customer's answer to an offer trigger (topic ``offer-responses``)."""

    trigger_id: Identifier
    customer_id: Identifier
    ts: EventTime
    accepted: StrictBool
