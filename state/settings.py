"""Redis connection settings (section ``redis``: ``VERDICT_REDIS__<NAME>``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RedisSettings(BaseModel):
    """Where Redis is and how long Verdict waits for it before deciding without it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://).")
    connect_timeout_s: float = Field(0.25, gt=0, description="Timeout to open a connection.")
    socket_timeout_s: float = Field(0.25, gt=0, description="Timeout of one command round trip.")
    max_connections: int = Field(64, ge=1, description="Connections in the client pool.")
