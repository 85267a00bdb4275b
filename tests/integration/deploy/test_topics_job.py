"""The topics job of docker-compose.yml, run as written against a real Kafka-protocol broker.

The job's script is taken from the compose file and run with the job's own environment,
only the broker URL pointing at a broker of this test (embedded Tansu, on a free port).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.topics import ALL_TOPICS
from streams.admin import admin_client
from streams.settings import KafkaSettings
from tests.integration.kafka_fixtures import start_test_broker
from tests.unit.deploy.compose_file import REPO, environment, load_compose


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    """A broker of this module's own: the job creates the real topic names."""
    embedded, settings = start_test_broker(tmp_path_factory.mktemp("topics-job"))
    try:
        yield settings
    finally:
        embedded.stop()


def _run_job(broker: KafkaSettings) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    job = load_compose()["services"]["topics"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env |= {k: v for k, v in environment(job).items() if v is not None}
    env["VERDICT_KAFKA__URL"] = broker.url
    entrypoint = job["entrypoint"]
    assert entrypoint[0] == "python"
    result = subprocess.run(
        [sys.executable, *entrypoint[1:]],
        env=env,
        cwd=Path(REPO),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, env


def test_the_job_creates_every_topic_with_the_configured_partitions(
    broker: KafkaSettings,
) -> None:
    result, env = _run_job(broker)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "topics created: " + ", ".join(ALL_TOPICS)
    with admin_client(broker) as admin:
        described = admin.describe_topics(list(ALL_TOPICS))
    partitions = int(env["VERDICT_KAFKA__PARTITIONS"])
    assert {t["name"]: len(t["partitions"]) for t in described} == dict.fromkeys(
        ALL_TOPICS, partitions
    )


def test_a_second_run_changes_nothing_and_succeeds(broker: KafkaSettings) -> None:
    _run_job(broker)
    result, _ = _run_job(broker)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "topics created: none, all existed"
