"""Topic names of the event contracts (DESIGN.md). Outside tools rely on these exact names."""

from __future__ import annotations

from typing import Final

TRANSACTIONS: Final = "transactions"
CUSTOMERS: Final = "customers"
LABELS: Final = "labels"
OFFER_RESPONSES: Final = "offer-responses"
DECISIONS: Final = "decisions"
ALERTS: Final = "alerts"
TRIGGERS: Final = "triggers"
DEAD_LETTERS: Final = "dead-letters"

INPUT_TOPICS: Final = (TRANSACTIONS, CUSTOMERS, LABELS, OFFER_RESPONSES)
OUTPUT_TOPICS: Final = (DECISIONS, ALERTS, TRIGGERS, DEAD_LETTERS)
ALL_TOPICS: Final = INPUT_TOPICS + OUTPUT_TOPICS
