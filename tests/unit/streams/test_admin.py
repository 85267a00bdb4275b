"""The Kafka wire bits of streams.admin that need no broker."""

from __future__ import annotations

import socket
import struct

import pytest

from streams.admin import (
    api_versions_request,
    broker_reachable,
    parse_api_versions,
    split_host_port,
)
from streams.settings import KafkaSettings


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1:9092", ("127.0.0.1", 9092)),
        (" broker:19092 ", ("broker", 19092)),
        ("broker", ("broker", 9092)),
        ("[::1]:9093", ("::1", 9093)),
        ("[::1]", ("::1", 9092)),
    ],
)
def test_bootstrap_entries_are_split(entry: str, expected: tuple[str, int]) -> None:
    assert split_host_port(entry) == expected


@pytest.mark.parametrize("entry", [":9092", "host:0", "host:99999", "host:abc", "[]:1"])
def test_bad_bootstrap_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"host|port"):
        split_host_port(entry)


def test_an_api_versions_answer_is_read() -> None:
    request = api_versions_request(99)
    assert struct.unpack(">i", request[:4])[0] == len(request) - 4
    body = struct.pack(">ihi", 99, 0, 2) + struct.pack(">hhhhhh", 3, 0, 12, 18, 0, 3)
    assert parse_api_versions(body, 99) == {3: (0, 12), 18: (0, 3)}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        struct.pack(">ihi", 98, 0, 0),  # someone else's answer
        struct.pack(">ihi", 99, 35, 0),  # an error code
        struct.pack(">ihi", 99, 0, 5),  # says five entries, has none
    ],
)
def test_a_wrong_api_versions_answer_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"ApiVersions|correlation"):
        parse_api_versions(body, 99)


def test_a_closed_port_or_a_stranger_is_no_broker() -> None:
    with socket.socket() as listener:  # accepts, then answers nothing a broker would
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not broker_reachable(KafkaSettings(url=f"kafka://127.0.0.1:{port}"), 0.2)
    assert not broker_reachable(KafkaSettings(url=f"kafka://127.0.0.1:{port}"), 0.2)
