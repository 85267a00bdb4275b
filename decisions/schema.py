"""Building blocks of the policy schema: the frozen base model, constrained names, outcomes.

Every section of the policy file is a :class:`PolicyModel`: frozen, and unknown keys are an
error (a typo in a policy must not silently switch a rule off). Names that end up in Redis keys,
metric labels or reason codes are constrained here, once.

>>> severity("review") > severity("challenge")
True
>>> check_template("{value:g} in 1 h, usual {usual:.1f}", {"value": 1.5, "usual": 0.5})
'{value:g} in 1 h, usual {usual:.1f}'
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from events.outputs import Outcome

#: Outcomes from the mildest to the most severe; a decision takes the most severe that applies.
OUTCOMES: Final[tuple[Outcome, ...]] = ("approve", "challenge", "review", "decline")
_SEVERITY: Final[dict[str, int]] = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}
APPROVE: Final = 0
CHALLENGE: Final = 1
REVIEW: Final = 2
DECLINE: Final = 3

#: An outcome a rule can force: anything but approve.
Severe = Literal["challenge", "review", "decline"]


#: A location in the policy document: keys and array indices (``("rules", "limits", 1)``).
Loc = tuple[str | int, ...]


def invalid(problems: list[tuple[Loc, str, Any]], title: str) -> ValidationError:
    """A pydantic error whose problems sit at precise locations (so the file's line is found)."""
    return ValidationError.from_exception_data(
        title,
        [
            {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(msg)}}
            for loc, msg, value in problems
        ],
    )


def severity(outcome: str) -> int:
    """Rank of an outcome: approve 0, challenge 1, review 2, decline 3."""
    return _SEVERITY[outcome]


class PolicyModel(BaseModel):
    """Base of every policy section: frozen, unknown keys rejected.

    Sections cache what they derive from their fields (``functools.cached_property``), so a
    copy is built anew and validated rather than copied with stale caches.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A validated copy with ``update`` applied (``deep`` is moot: sections are frozen)."""
        data = {name: getattr(self, name) for name in type(self).model_fields}  # no caches
        data.update(update or {})
        return self.model_validate(data)


#: A feature name as the feature store spells it (``cust_count_1h``, ``attr_risk_ip``).
FeatureName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: A stable, machine-readable reason code (``velocity_1h``); also a metric label value.
ReasonCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
#: A block/allow list (a Redis set ``<prefix>:list:<name>``).
ListName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
#: A segment tier (``vip``).
TierName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
#: An offer variant, as the propensity model and the marketing systems know it.
OfferId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
#: A score threshold.
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
#: A non-negative, finite quantity (money, days, counts as floats).
Quantity = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
#: Days, where 0 switches the rule off.
Days = Annotated[float, Field(ge=0.0, le=3650.0, allow_inf_nan=False)]

_FORMATTER: Final = string.Formatter()


def check_template(template: str, samples: Mapping[str, object]) -> str:
    """``template`` if it is a ``str.format`` template over the plain names of ``samples``.

    Attribute and index access (``{value.__class__}``) and unknown names are refused, and the
    template must format ``samples``, so a policy file can word its reasons without reaching
    into the engine or failing at decision time.
    """
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as error:
        raise ValueError(f"is not a valid template: {error}") from None
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if name not in samples:
            allowed = ", ".join("{" + f + "}" for f in sorted(samples))
            raise ValueError(f"uses {{{name}}}; a template may use {allowed}")
        if spec and ("{" in spec or "}" in spec):
            raise ValueError(f"format spec of {{{name}}} may not nest fields")
    try:
        template.format(**samples)
    except (ValueError, TypeError) as error:
        raise ValueError(f"does not format: {error}") from None
    return template


def finite(value: float) -> float:
    """``value`` if finite (a policy number must not be NaN or infinite)."""
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


FiniteFloat = Annotated[float, AfterValidator(finite)]
