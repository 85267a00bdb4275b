"""The shared vocabulary of Verdict: event records, parsing with clear errors, topic names.

Imports nothing else of ours; every other package imports from here.
"""

from events.errors import (
    DependencyUnavailableError,
    EventValidationError,
    FieldProblem,
    MalformedPayloadError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
    VerdictError,
)
from events.eventtime import format_event_time, parse_event_time
from events.outputs import Alert, Decision, Outcome, Reason, Trigger
from events.parsing import (
    EVENT_TYPES,
    parse_customer,
    parse_event,
    parse_label,
    parse_offer_response,
    parse_transaction,
    to_dict,
    to_json,
)
from events.records import CustomerProfile, Event, Label, OfferResponse, Transaction

__all__ = [
    "EVENT_TYPES",
    "Alert",
    "CustomerProfile",
    "Decision",
    "DependencyUnavailableError",
    "Event",
    "EventValidationError",
    "FieldProblem",
    "Label",
    "MalformedPayloadError",
    "NotFoundError",
    "OfferResponse",
    "Outcome",
    "PayloadTooLargeError",
    "Reason",
    "Transaction",
    "Trigger",
    "UnauthorizedError",
    "VerdictError",
    "format_event_time",
    "parse_customer",
    "parse_event",
    "parse_event_time",
    "parse_label",
    "parse_offer_response",
    "parse_transaction",
    "to_dict",
    "to_json",
]
