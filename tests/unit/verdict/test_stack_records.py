"""Pure parts of the embedded stack: pid files, addresses, stale records, the status table."""

from __future__ import annotations

import io
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from state.settings import RedisSettings
from streams.settings import KafkaSettings
from verdict.embedded import EmbeddedBroker, EmbeddedRedis, RedisEndpoint, safe_url
from verdict.processes import (
    PidRecord,
    process_alive,
    process_matches,
    read_pid_file,
    write_pid_file,
)
from verdict.services import EMBEDDED, EXTERNAL, RUNNING, STOPPED, ServiceStatus, loopback_bind_host
from verdict.settings import StackSettings
from verdict.stack import StackStatus, format_uptime

RECORD = PidRecord(
    service="broker",
    pid=4242,
    started_at="2026-11-25T03:00:00+00:00",
    address="kafka://127.0.0.1:9092",
    command=("/opt/tansu", "broker", "--listener-url", "tcp://127.0.0.1:9092"),
    log="/tmp/broker.log",
)


def test_a_pid_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "broker.pid"
    write_pid_file(path, RECORD)
    assert read_pid_file(path) == RECORD
    assert json.loads(path.read_text())["pid"] == 4242
    assert RECORD.started == datetime(2026, 11, 25, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4242",
        "not json",
        "[1, 2]",
        json.dumps({"pid": 4242}),
        RECORD.to_json().replace("4242", '"4242"'),
        RECORD.to_json().replace("4242", "1"),
        RECORD.to_json().replace("4242", "true"),
        RECORD.to_json().replace("+00:00", ""),  # a start time without a zone
        RECORD.to_json().replace("2026-11-25T03:00:00", "yesterday"),
        json.dumps(json.loads(RECORD.to_json()) | {"command": []}),
    ],
)
def test_a_broken_pid_file_is_no_record(text: str) -> None:
    assert PidRecord.parse(text) is None


def test_a_missing_pid_file_is_no_record(tmp_path: Path) -> None:
    assert read_pid_file(tmp_path / "absent.pid") is None


def test_a_finished_process_is_not_alive_and_a_stranger_is_not_ours() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert not process_alive(child.pid)
    assert process_alive(os.getpid())
    assert not process_matches(os.getpid(), ["tansu", "9092"])
    assert not process_matches(child.pid, [])


def test_stale_and_foreign_pid_files_are_removed(tmp_path: Path) -> None:
    stack = StackSettings(home=tmp_path)
    broker = EmbeddedBroker(KafkaSettings(url="kafka://127.0.0.1:1"), stack)
    write_pid_file(broker.pid_path, RECORD)  # pid 4242 is not a tansu on port 9092 here
    assert broker.owned() == (None, "stale pid file removed (pid 4242 is not our broker)")
    assert not broker.pid_path.exists()
    broker.pid_path.write_text("garbage")
    assert broker.owned() == (None, "unreadable pid file removed")
    assert broker.owned() == (None, "")


@pytest.mark.parametrize(
    ("host", "bind"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("LOCALHOST", "127.0.0.1"),
        ("::1", "127.0.0.1"),
        ("127.0.0.5", "127.0.0.5"),
        ("10.0.0.1", None),
        ("0.0.0.0", None),
        ("kafka-0.kafka.svc", None),
        ("", None),
    ],
)
def test_only_loopback_addresses_get_an_embedded_service(host: str, bind: str | None) -> None:
    assert loopback_bind_host(host) == bind


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("redis://127.0.0.1:6379/0", RedisEndpoint("redis", "127.0.0.1", 6379)),
        ("redis://localhost", RedisEndpoint("redis", "localhost", 6379)),
        ("redis://:p%40ss@127.0.0.1:6390/3", RedisEndpoint("redis", "127.0.0.1", 6390, "p@ss")),
        ("redis://user:pw@host:1/0", RedisEndpoint("redis", "host", 1, "pw")),
        ("rediss://cache.example:6380", RedisEndpoint("rediss", "cache.example", 6380)),
        ("unix:///tmp/redis.sock", RedisEndpoint("unix", "", 6379)),
    ],
)
def test_redis_urls_are_read(url: str, endpoint: RedisEndpoint) -> None:
    assert RedisEndpoint.parse(url) == endpoint


def test_credentials_never_reach_messages_or_pid_files(tmp_path: Path) -> None:
    assert safe_url("redis://:pw@127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    redis = EmbeddedRedis(
        RedisSettings(url="redis://:pw@127.0.0.1:6390/0"), StackSettings(home=tmp_path)
    )
    command = ["redis-server", "--port", "6390", "--requirepass", "pw"]
    assert redis.redacted(command) == ("redis-server", "--port", "6390", "--requirepass", "***")
    assert redis.address == "redis://127.0.0.1:6390/0"


def test_the_broker_lives_where_kafka_url_points(tmp_path: Path) -> None:
    stack = StackSettings(home=tmp_path)
    broker = EmbeddedBroker(KafkaSettings(url="kafka://localhost:19093;other:9092"), stack)
    assert (broker.host, broker.port) == ("localhost", 19093)
    assert broker.pid_path == tmp_path.absolute() / "broker.pid"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m 1s"), (3600, "1h 0m"), (90061, "1d 1h")],
)
def test_uptime_reads_like_a_person_writes_it(seconds: float, text: str) -> None:
    assert format_uptime(seconds) == text


def test_the_status_table_shows_state_address_pid_and_since() -> None:
    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    status = StackStatus(
        services=(
            ServiceStatus(
                "broker", RUNNING, "kafka://127.0.0.1:9092", EMBEDDED, 4242,
                now - timedelta(minutes=5), "already running",
            ),
            ServiceStatus("redis", RUNNING, "redis://127.0.0.1:6379/0", EXTERNAL),
        ),
        home="/work/.verdict",
        summary="nothing to do: already running",
    )  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(status.render(now=now))
    text = out.getvalue()
    assert "4242" in text and "up 5m 0s" in text and "kafka://127.0.0.1:9092" in text
    assert "embedded" in text and "external" in text
    assert "nothing to do: already running" in text
    assert status.service("redis").state == RUNNING and status.started == ()
    stopped = ServiceStatus("redis", STOPPED, "redis://127.0.0.1:6379/0")
    assert not stopped.running


def test_a_log_tail_shows_the_latest_run_only(tmp_path: Path) -> None:
    from verdict.processes import log_tail, start_detached

    log = tmp_path / "service.log"
    for word in ("first", "second"):
        start_detached(["sh", "-c", f"echo {word} run"], log).wait()
    assert log_tail(log) == "  | second run"
    assert log_tail(tmp_path / "absent.log") == "  | (no log)"
