"""The baseline of ``verdict bench stream``: a bare faust agent that only reads and decodes.

It runs as a process of its own (``python -m benchmarks.stream_bare``), with the same faust
settings as the Verdict workers (:meth:`~streams.settings.KafkaSettings.faust_options`, raw
values, ``take_events`` micro-batches of the same size) and does nothing with an event but
decode its JSON. It prints one JSON line: how many events it read, the wall-clock times of
its start, its first event and its last (with the process's CPU seconds at both: what faust
costs an event), and ``samples``: the time and size of each
micro-batch (for the plot of events per second over the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any

import faust
import orjson

from streams.settings import KafkaSettings, StreamSettings
from verdict import event_loop


async def consume(
    kafka: KafkaSettings, stream: StreamSettings, topic: str, count: int, timeout_s: float
) -> dict[str, Any]:
    """Read ``count`` events of ``topic`` (or until ``timeout_s``); the times it took."""
    app = faust.App(
        stream.app_id,
        **kafka.faust_options(),
        web_enabled=False,
        datadir=stream.data_dir,
        value_serializer="raw",
        key_serializer="raw",
        topic_allow_declare=False,
    )
    source = app.topic(topic, value_serializer="raw", key_serializer="raw")
    seen: dict[str, Any] = {"started": time.time(), "first": 0.0, "last": 0.0, "events": 0.0}
    seen |= {"cpu_first": 0.0, "cpu_last": 0.0}  # the process's CPU seconds at those times
    samples: list[tuple[float, int]] = []
    seen["samples"] = samples
    done = asyncio.Event()

    async def bare(events_stream: Any) -> None:
        async for events in events_stream.take_events(
            stream.batch_size, within=stream.batch_within_s
        ):
            for event in events:
                orjson.loads(event.message.value)
            now, cpu = time.time(), time.process_time()
            if not seen["first"]:
                seen["first"], seen["cpu_first"] = now, cpu
            seen["last"], seen["cpu_last"] = now, cpu
            seen["events"] += len(events)
            samples.append((now, len(events)))
            if seen["events"] >= count:
                done.set()

    app.agent(source, name="bare")(bare)
    await app.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        await app.stop()
    return seen


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, consume, print the result as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", required=True, help="kafka://host:port")
    parser.add_argument("--topic", default="transactions")
    parser.add_argument("--count", type=int, required=True, help="events to read")
    parser.add_argument("--app-id", required=True, help="consumer group")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=StreamSettings().batch_size)
    parser.add_argument("--within", type=float, default=StreamSettings().batch_within_s)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    kafka = KafkaSettings(url=args.broker)
    stream = StreamSettings(
        app_id=args.app_id,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        batch_within_s=args.within,
    )
    # on the loop the workers run on (uvloop by default), so the ratio compares like with like
    seen = event_loop.run(
        consume(kafka, stream, args.topic, args.count, args.timeout), stream.event_loop
    )
    sys.stdout.write(orjson.dumps(seen).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
