"""The console's own reader of the ``alerts``, ``decisions`` and ``labels`` topics.

Every worker runs one, outside the consumer group (no ``group_id``, nothing committed): each
worker's console sees every alert, whichever worker decided it, not only its partitions'. It
starts a little in the past (``lookback_s``, found with ``offsets_for_times``, else at the
end) and keeps only messages produced since then, by producer timestamp: the embedded broker
(Tansu) reports end offsets wrongly after batched produces, so a position found from an end
offset may re-read older messages, and the timestamp filter drops them.

What it reads goes into the bounded books (:mod:`decisions.console.books`); analysts' labels
seen on ``labels`` mark their alerts in every worker's console. An alert is shown once its
decision is in the activity book (or after :data:`ALERT_HOLD_S`), so that the analyst who opens
it sees the payment that raised it: the two travel on different topics and may arrive in
different fetches. A broker that is away is retried; the follower never stops the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from decisions.console.books import ActivityBook, AlertBook
from events import topics

log = logging.getLogger(__name__)

#: The topics the console reads.
FOLLOWED: Final = (topics.ALERTS, topics.DECISIONS, topics.LABELS)
#: Longest a fetch waits for :data:`FETCH_MIN_BYTES`: how late an alert shows at most.
FETCH_MAX_WAIT_MS: Final = 1000
#: Bytes a fetch waits for (~400 decisions). The console need not see a decision within
#: milliseconds, and every fetch costs the broker: at 1,000 decisions/s, answering each fetch
#: as soon as it had data (~84 fetches/s of ~7 records) took the embedded broker 10-15 s of CPU
#: in 20 s, against 3-5 s with this wait and 2.2 s without a console, measured with the inline
#: API under load on this 2-core machine, where the broker's CPU is taken from the API's.
FETCH_MIN_BYTES: Final = 1 << 20
#: Messages decoded and taken between two turns of the event loop the API shares: each slice
#: holds the loop for well under a millisecond (decisions are ~2.5 KB of JSON each).
TAKE_AT_ONCE: Final = 8
#: Longest an alert waits for its decision to arrive before it is shown without it.
ALERT_HOLD_S: Final = 3.0


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
    clock
        Seconds, for how long alerts are held (monotonic).
    """

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        alerts: AlertBook,
        activity: ActivityBook,
        *,
        lookback_s: float = 3600.0,
        retry_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
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
        self._clock = clock
        self._held: dict[str, tuple[float, dict[str, Any]]] = {}  # alert_id: (deadline, alert)

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
                fetch_min_bytes=FETCH_MIN_BYTES,
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
                    self.take(partition.topic, message.value)
            self.release()
            await asyncio.sleep(0)  # the API answers between two slices

    def release(self, tx_id: str | None = None) -> None:
        """Show the held alerts whose decision has arrived or that waited long enough (and the
        alert on ``tx_id``, which an analyst's verdict names)."""
        now = self._clock()
        for alert_id, (deadline, alert) in list(self._held.items()):
            if (
                now >= deadline
                or alert["tx_id"] == tx_id
                or self.activity.knows(alert["customer_ref"], alert["tx_id"])
            ):
                del self._held[alert_id]
                self.alerts.add(alert)

    def _hold(self, alert: dict[str, Any]) -> None:
        """Keep ``alert`` until its decision arrives (KeyError: it lacks a field it needs)."""
        alert["customer_ref"], alert["tx_id"] = str(alert["customer_ref"]), str(alert["tx_id"])
        self._held.setdefault(str(alert["alert_id"]), (self._clock() + ALERT_HOLD_S, alert))

    def take(self, topic: str, value: bytes) -> None:
        """Put one message of ``topic`` where it belongs (a malformed one is logged and skipped)."""
        try:
            body: Any = orjson.loads(value)
            if topic == topics.ALERTS:
                self._hold(body)
            elif topic == topics.DECISIONS:
                self.activity.add(body)
            elif body.get("source") == "analyst":
                tx_id = str(body["tx_id"])
                self.release(tx_id)  # its alert, if it is still held
                self.alerts.mark(tx_id, "fraud" if body["is_fraud"] else "legitimate")
            self.read += 1
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            log.debug("console: skipped a message of %s (%s)", topic, error)
