"""Settings of the decision layer (section ``decisions``: ``VERDICT_DECISIONS__<NAME>``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DecisionSettings(BaseModel):
    """Where the policy is, how often it is re-read, and where the lists and caps live in Redis.

    >>> DecisionSettings().reload_interval_s
    5.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_path: Path | None = Field(
        None,
        description="TOML policy file; unset: the packaged decisions/default_policy.toml.",
    )
    reload_interval_s: float = Field(
        5.0,
        ge=0,
        description="Seconds between checks of the policy file's mtime; 0: only on reload().",
    )
    key_prefix: str = Field(
        "verdict",
        pattern=r"^[A-Za-z0-9_.:-]{1,32}$",
        description="Prefix of the Redis keys of block/allow lists and marketing caps.",
    )
