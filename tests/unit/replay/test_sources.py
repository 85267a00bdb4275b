"""Reading stream files: topics from names, validation with line numbers, merging by time."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from events import EventValidationError, parse_label, parse_transaction
from replay.pacing import Pacer
from replay.sources import BadLine, merge_by_time, read_records, topic_of


def _tx(tx_id: str, ts: float, customer: str = "c1") -> bytes:
    return orjson.dumps({"tx_id": tx_id, "ts": ts, "customer_id": customer, "amount": 1.0})


def _no_bad(line: BadLine) -> None:
    pytest.fail(f"unexpected bad line {line}")


def _write(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("transactions.jsonl", "transactions"),
        ("labels.jsonl", "labels"),
        ("customers.csv", "customers"),
        ("offer_responses.jsonl", "offer-responses"),
        ("offer-responses.day1.jsonl", "offer-responses"),
    ],
)
def test_topic_comes_from_the_file_name(name: str, topic: str) -> None:
    assert topic_of(Path(name)) == topic


def test_a_file_named_after_no_topic_is_a_clear_error() -> None:
    with pytest.raises(EventValidationError, match="name it after a topic"):
        topic_of(Path("payments.jsonl"))


def test_bad_lines_are_reported_with_their_numbers_and_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "transactions.jsonl",
        [_tx("a", 1e9), b'{"tx_id": "b"}', b"", b"not json", _tx("c", 1e9 + 1)],
    )
    bad: list[BadLine] = []
    records = list(read_records(path, on_bad=bad.append))
    assert [parse_transaction(r.value).tx_id for r in records] == ["a", "c"]
    assert [line.line for line in bad] == [2, 4]
    assert "ts: is required" in bad[0].error
    assert "not valid JSON" in bad[1].error
    assert records[0].key == b"c1"
    assert records[1].origin == "transactions.jsonl:5"


def test_without_validation_lines_go_out_as_they_are(tmp_path: Path) -> None:
    path = _write(tmp_path / "transactions.jsonl", [b"garbage", b'{"customer_id": "c9", "x": 1}'])
    records = list(read_records(path, validate=False, on_bad=_no_bad))
    assert [r.value for r in records] == [b"garbage", b'{"customer_id": "c9", "x": 1}']
    assert [r.key for r in records] == [b"", b"c9"]


def test_labels_without_customer_are_keyed_by_transaction(tmp_path: Path) -> None:
    line = b'{"tx_id": "t7", "is_fraud": true, "ts": 1000000000, "source": "chargeback"}'
    (record,) = read_records(_write(tmp_path / "labels.jsonl", [line]), on_bad=_no_bad)
    assert record.key == b"t7"
    assert record.topic == "labels"


def test_csv_rows_are_typed_and_validated(tmp_path: Path) -> None:
    path = tmp_path / "transactions.csv"
    path.write_text(
        "tx_id,ts,customer_id,amount,country,attributes.risk\n"
        "t1,2026-03-01T10:00:00Z,c1,12.5,FR,0.5\n"
        "t2,2026-03-01T10:00:01Z,c1,-4,FR,\n"
        "t3,1772359202,c2,3,DE,high\n"
    )
    bad: list[BadLine] = []
    records = list(read_records(path, on_bad=bad.append))
    assert len(records) == 1
    tx = parse_transaction(records[0].value)
    assert (tx.amount, tx.country, tx.attributes) == (12.5, "FR", {"risk": 0.5})
    assert [line.line for line in bad] == [3, 4]


def test_files_are_merged_by_event_time_stably(tmp_path: Path) -> None:
    txs = _write(tmp_path / "transactions.jsonl", [_tx("a", 10e8), _tx("b", 12e8)])
    labels = _write(
        tmp_path / "labels.jsonl",
        [b'{"tx_id": "a", "is_fraud": false, "ts": 1000000000, "source": "customer"}',
         b'{"tx_id": "b", "is_fraud": true, "ts": 1100000000, "source": "chargeback"}'],
    )  # fmt: skip
    merged = merge_by_time(
        [read_records(txs, on_bad=_no_bad), read_records(labels, on_bad=_no_bad)]
    )
    order = [(r.topic, r.ts) for r in merged]
    assert order == [
        ("transactions", 1e9),
        ("labels", 1e9),
        ("labels", 1.1e9),
        ("transactions", 1.2e9),
    ]
    assert parse_label(read_records(labels, on_bad=_no_bad).__next__().value).tx_id == "a"


def test_pacer_follows_event_time_at_the_given_speed() -> None:
    clock = [0.0]
    pacer = Pacer(speed=60.0, now=lambda: clock[0])
    assert pacer.wait_for(1000.0) == 0.0
    assert pacer.wait_for(1060.0) == 1.0  # a minute of events at 60x is a second
    clock[0] = 5.0
    assert pacer.wait_for(1060.0) == 0.0  # late events go at once
    assert pacer.wait_for(1600.0) == 5.0
    with pytest.raises(ValueError, match="positive"):
        Pacer(speed=0.0)
