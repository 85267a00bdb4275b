"""Feature-store settings: Redis connection (section ``redis``), state (section ``state``)."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RedisSettings(BaseModel):
    """Where Redis is and how long Verdict waits for it before deciding without it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://).")
    connect_timeout_s: float = Field(0.25, gt=0, description="Timeout to open a connection.")
    socket_timeout_s: float = Field(0.25, gt=0, description="Timeout of one command round trip.")
    max_connections: int = Field(64, ge=1, description="Connections in the client pool.")
    probe_interval_s: float = Field(
        0.2,
        gt=0,
        allow_inf_nan=False,
        description="While Redis is down, seconds between the background probes (PING) that "
        "find it back; decisions are degraded at once meanwhile.",
    )


DAY_S: Final = 86_400


class StateSettings(BaseModel):
    """How the feature store keeps its memory (section ``state``: ``VERDICT_STATE__<NAME>``).

    The windows themselves (1 h ... 90 d) are part of the feature names and fixed in
    :mod:`state.windows`; these settings say how long things are kept and how time is read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    label_horizon_s: int = Field(
        45 * DAY_S,
        ge=3600,
        description="How long a decision's feature snapshot is kept for a late label (event time).",
    )
    late_margin_s: int = Field(
        DAY_S,
        ge=0,
        le=7 * DAY_S,
        description="Extra history kept so a transaction up to this late gets exact features.",
    )
    idle_expiry_s: int = Field(
        120 * DAY_S,
        ge=DAY_S,
        description="An entity not seen for this long (event time, and Redis TTL) is forgotten.",
    )
    terminal_bucket_s: int = Field(
        3600,
        ge=60,
        le=21_600,
        description="Bucket of the terminal's 7- and 30-day counts (must divide one day).",
    )
    timezone: str = Field(
        "UTC", description="IANA zone of calendar months, night and weekend (e.g. Europe/Paris)."
    )
    night_end_hour: int = Field(
        6, ge=0, le=12, description="A transaction before this local hour is at night (from 00:00)."
    )

    @field_validator("terminal_bucket_s")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if DAY_S % value:
            raise ValueError("must divide one day (86400 s)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value[:40]!r} is not an IANA time zone") from None
        return value
