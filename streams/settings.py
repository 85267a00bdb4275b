"""Kafka connection settings (section ``kafka``: ``VERDICT_KAFKA__<NAME>``)."""

from __future__ import annotations

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
