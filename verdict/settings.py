"""All settings of Verdict, assembled at the front door.

Each component owns its section (a frozen pydantic model next to its code); this module puts
them together under one :class:`Settings` that reads ``VERDICT_<SECTION>__<NAME>`` environment
variables. Unknown keys are an error. Nothing reads settings at import time: build one
``Settings()`` in the CLI and pass sections down.

>>> import os
>>> os.environ["VERDICT_REDIS__URL"] = "redis://127.0.0.1:6380/0"
>>> Settings().redis.url
'redis://127.0.0.1:6380/0'
>>> del os.environ["VERDICT_REDIS__URL"]
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from decisions.api import ApiSettings
from decisions.settings import DecisionSettings
from events.records import DEFAULT_CURRENCY
from models.settings import ModelSettings
from state.settings import RedisSettings, StateSettings
from streams.settings import KafkaSettings, StreamSettings


class EventSettings(BaseModel):
    """How events are read (section ``events``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_currency: str = Field(
        DEFAULT_CURRENCY, pattern=r"^[A-Z]{3}$", description="Currency of events that name none."
    )


class StackSettings(BaseModel):
    """The embedded stack of one machine (section ``stack``).

    The stack has no addresses of its own: it starts the broker where ``kafka.url`` points and
    Redis where ``redis.url`` points (both on loopback), so clients and stack never disagree.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(Path(".verdict"), description="Folder for pid files, logs and data.")
    start_timeout_s: float = Field(20.0, gt=0, description="How long to wait for a service.")
    stop_timeout_s: float = Field(
        10.0, gt=0, description="How long a service may take to stop before it is killed."
    )
    probe_timeout_s: float = Field(
        1.0, gt=0, description="Budget of one reachability check (Kafka ApiVersions, Redis PING)."
    )


class Settings(BaseSettings):
    """Every setting, by section; environment variables ``VERDICT_<SECTION>__<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="VERDICT_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)

    @model_validator(mode="after")
    def _no_unknown_sections(self) -> Settings:
        """``VERDICT_TYPO__URL`` is an error, not a silently ignored variable."""
        prefix = self.model_config.get("env_prefix", "VERDICT_")
        known = {name.upper() for name in type(self).model_fields}
        for variable in os.environ:
            if variable.upper().startswith(prefix):
                section = variable[len(prefix) :].split("__", 1)[0].upper()
                if section not in known:
                    sections = ", ".join(sorted(known))
                    raise ValueError(f"{variable}: unknown section {section!r} (known: {sections})")
        return self
