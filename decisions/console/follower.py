"""The console's own reader of the ``alerts``, ``decisions`` and ``labels`` topics.

Every worker runs one, outside the consumer group (no ``group_id``, nothing committed): each
worker's console sees every alert, whichever worker decided it, not only its partitions'. It
starts a little in the past (``lookback_s``, found with ``offsets_for_times``, else at the
end) and keeps only messages produced since then, by producer timestamp: the embedded broker
(Tansu) reports end offsets wrongly after batched produces, so a position found from an end
offset may re-read older messages, and the timestamp filter drops them.

What it reads goes into the bounded books (:mod:`decisions.console.books`); analysts' labels
seen on ``labels`` mark their alerts in every worker's console. A broker that is away is
retried; the follower never stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from decisions.console.books import ActivityBook, AlertBook
from events import topics

log = logging.getLogger(__name__)

#: The topics the console reads.
FOLLOWED: Final = (topics.ALERTS, topics.DECISIONS, topics.LABELS)
#: Longest a fetch waits on an idle topic: how late an alert shows at most (Tansu answers a
#: fetch as soon as it has data: ~84 fetches/s of ~7 records at 1,000 decisions/s, measured).
FETCH_MAX_WAIT_MS: Final = 100
#: Messages decoded and taken between two turns of the event loop the API shares: each slice
#: holds the loop for well under a millisecond (decisions are ~2.5 KB of JSON each).
TAKE_AT_ONCE: Final = 8


class TopicFollower:
    """Feeds the books from the topics, from ``lookback_s`` ago onwards.

    Parameters
    ----------
    bootstrap_servers
        The broker's ``host:port`` entries.
    alerts, activity
        Where alerts (and analysts' verdicts), and decisions go.
    lookback_s
        How far back to start when the console starts.
    retry_s
        Pause before trying again when the broker or a topic is missing.
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        alerts: AlertBook,
        activity: ActivityBook,
        *,
        lookback_s: float = 3600.0,
        retry_s: float = 2.0,
    ) -> None:
        self._servers = list(bootstrap_servers)
        self.alerts = alerts
        self.activity = activity
        self.lookback_s = lookback_s
        self.retry_s = retry_s
        self.since_ms = 0
        self.read = 0
        self._task: asyncio.Task[None] | None = None
        self._complained = False

    def start(self) -> None:
        """Start following in the background (on the running loop)."""
        self.since_ms = int((time.time() - self.lookback_s) * 1000)
        self._task = asyncio.create_task(self._run(), name="console-follower")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._servers,
                enable_auto_commit=False,
                fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            )
            try:
                await consumer.start()
                partitions = await self._assign(consumer)
                if partitions:
                    await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker went away: the console waits for it
                self._complain(f"console: cannot follow the topics ({error}); retrying")
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(self.retry_s)

    async def _assign(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """Assign every partition of the followed topics and seek to ``since_ms``."""
        await consumer.topics()  # refreshes the metadata
        partitions = [
            TopicPartition(topic, p)
            for topic in FOLLOWED
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        missing = set(FOLLOWED) - {tp.topic for tp in partitions}
        if missing:
            self._complain(f"console: topics {', '.join(sorted(missing))} do not exist yet")
            return []
        self._complained = False
        consumer.assign(partitions)
        try:
            found = await consumer.offsets_for_times(dict.fromkeys(partitions, self.since_ms))
        except Exception as error:  # a broker without timestamp lookups: start at the end
            log.info("console: no offsets by time (%s); starting at the end", error)
            found = {}
        for tp in partitions:
            hit = found.get(tp)
            if hit is not None:
                consumer.seek(tp, hit.offset)
            else:
                await consumer.seek_to_end(tp)
        log.info("console: following %d partitions", len(partitions))
        return partitions

    def _complain(self, message: str) -> None:
        """Warn once while a problem lasts (it is retried every ``retry_s``), then debug."""
        log.log(logging.DEBUG if self._complained else logging.WARNING, "%s", message)
        self._complained = True

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=TAKE_AT_ONCE)
            for partition, messages in batches.items():
                for message in messages:
                    if message.timestamp < self.since_ms or message.value is None:
                        continue
                    self._take(partition.topic, message.value)
            await asyncio.sleep(0)  # the API answers between two slices

    def _take(self, topic: str, value: bytes) -> None:
        try:
            body: Any = orjson.loads(value)
            if topic == topics.ALERTS:
                self.alerts.add(body)
            elif topic == topics.DECISIONS:
                self.activity.add(body)
            elif body.get("source") == "analyst":
                self.alerts.mark(str(body["tx_id"]), "fraud" if body["is_fraud"] else "legitimate")
            self.read += 1
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            log.debug("console: skipped a message of %s (%s)", topic, error)
