"""Kafka connection settings (section ``kafka``: ``VERDICT_KAFKA__<NAME>``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class KafkaSettings(BaseModel):
    """Where the broker is and how the clients talk to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        "kafka://127.0.0.1:9092",
        description="Broker URL(s): kafka://host:port[;host:port...].",
    )
    partitions: int = Field(4, ge=1, description="Partitions of each topic Verdict creates.")
    replication_factor: int = Field(1, ge=1, description="Replication of created topics.")
    session_timeout_s: float = Field(
        6.0, gt=0, description="Consumer group session timeout; short means fast start-up."
    )
    rebalance_timeout_s: float = Field(6.0, gt=0, description="Consumer group rebalance timeout.")
    heartbeat_interval_s: float = Field(1.0, gt=0, description="Consumer heartbeat interval.")
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of one broker request.")

    @property
    def bootstrap_servers(self) -> list[str]:
        """``host:port`` entries for kafka-python and aiokafka.

        >>> KafkaSettings(url="kafka://a:1;b:2").bootstrap_servers
        ['a:1', 'b:2']
        """
        hosts = self.url.removeprefix("kafka://")
        return [host.strip() for host in hosts.replace(",", ";").split(";") if host.strip()]

    def faust_options(self) -> dict[str, Any]:
        """Keyword arguments of ``faust.App`` that say where the broker is and how to join it.

        The short group timeouts matter: with faust's defaults the first event reaches an agent
        about 30 s after a worker starts; with 6 s / 6 s / 1 s, about 4 s. Topics faust creates
        (changelogs, repartitions) get ``partitions``, the same as the topics Verdict creates,
        which faust's tables require of their source topics.

        >>> options = KafkaSettings().faust_options()
        >>> options["broker"], options["broker_session_timeout"], options["topic_partitions"]
        ('kafka://127.0.0.1:9092', 6.0, 4)
        """
        return {
            "broker": self.url,
            "broker_session_timeout": self.session_timeout_s,
            "broker_rebalance_timeout": self.rebalance_timeout_s,
            "broker_heartbeat_interval": self.heartbeat_interval_s,
            "broker_request_timeout": self.request_timeout_s,
            "topic_partitions": self.partitions,
            "topic_replication_factor": self.replication_factor,
        }


class StreamSettings(BaseModel):
    """The stream workers (section ``stream``: ``VERDICT_STREAM__<NAME>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_id: str = Field(
        "verdict", pattern=r"^[A-Za-z0-9._-]+$", description="Consumer group of the workers."
    )
    batch_size: int = Field(500, ge=1, le=20_000, description="Messages per micro-batch, at most.")
    batch_within_s: float = Field(
        0.02, gt=0, le=5, description="Longest wait to fill a micro-batch before deciding."
    )
    step_chunk: int = Field(
        100,
        ge=1,
        le=20_000,
        description="Messages a step handles before it lets the event loop run (the inline "
        "API shares it): a micro-batch is decided in chunks of this size.",
    )
    publish_buffer: int = Field(
        100_000, ge=100, description="Events the asynchronous publisher buffers at most."
    )
    retry_max_s: float = Field(
        2.0, gt=0, description="Longest pause between retries while a dependency is down."
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="The worker's event loop: uvloop (libuv, several times cheaper per "
        "request) or asyncio's own; uvloop falls back to asyncio where it is not installed.",
    )
    data_dir: str = Field(".verdict/worker", description="Folder for the workers' local files.")
    learner: bool = Field(
        True,
        description="This worker owns training (consumes labels, publishes model versions); "
        "other workers score with the registry's versions.",
    )
