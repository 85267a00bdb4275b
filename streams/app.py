"""The faust topology: topics, agents and their micro-batches, over :class:`StreamSteps`.

Agents (all partitioned by ``customer_id``; each a consumer of the group ``stream.app_id``):

- ``score``: ``transactions`` -> ``decisions``, ``alerts``, ``triggers``;
- ``learn``: ``labels`` and ``offer-responses`` -> the models and the feature store;
- ``customers``: ``customers`` -> the feature store.

Every agent reads raw bytes in micro-batches (``take_events``: up to ``batch_size`` messages or
``batch_within_s``), hands them to its step, publishes the step's outputs (dead letters
included), and waits until the broker has acknowledged them before faust acknowledges the
inputs: at-least-once, with state idempotent by ``tx_id`` so a redelivery counts nothing
twice. When a dependency is down the agent pauses and retries the same batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import faust

from events import topics
from events.errors import DependencyUnavailableError
from events.metrics import Metrics
from streams.fetching import AdaptiveFetchWait, adaptive_fetches
from streams.pipeline import CUSTOMERS, LEARN, SCORE, Message, Out, StreamSteps
from streams.publisher import AsyncPublisher
from streams.settings import KafkaSettings, StreamSettings

log = logging.getLogger(__name__)

Step = Callable[[Sequence[Message]], list[Out]]


def _message(event: Any) -> Message:
    raw = event.message  # faust gives the broker timestamp in seconds
    stamp_ms = round(raw.timestamp * 1000) if raw.timestamp else 0
    return Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value, stamp_ms)


class Topology:
    """The faust app and its agents, bound to the steps and the publisher.

    Parameters
    ----------
    kafka, stream
        Where the broker is and how the workers batch.
    steps
        What each agent does with a batch.
    publisher
        Where outputs go (already started by the caller).
    metrics
        Batch sizes, pauses and lag are recorded here.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        stream: StreamSettings,
        steps: StreamSteps,
        publisher: AsyncPublisher,
        metrics: Metrics,
    ) -> None:
        self.stream = stream
        self.steps = steps
        self.publisher = publisher
        self.metrics = metrics
        self.app = faust.App(
            stream.app_id,
            **kafka.faust_options(),
            web_enabled=False,
            datadir=stream.data_dir,
            value_serializer="raw",
            key_serializer="raw",
            topic_allow_declare=False,
        )
        adaptive_fetches(self.app, AdaptiveFetchWait)  # prompt while messages flow
        self._agent(SCORE, steps.score, topics.TRANSACTIONS)
        self._agent(LEARN, steps.learn, topics.LABELS, topics.OFFER_RESPONSES)
        self._agent(CUSTOMERS, steps.customers, topics.CUSTOMERS)
        self.app.timer(5.0)(self._record_lag)

    def _agent(self, name: str, step: Step, *sources: str) -> None:
        source = self.app.topic(*sources, value_serializer="raw", key_serializer="raw")

        async def agent(stream: Any) -> None:
            async for events in stream.take_events(
                self.stream.batch_size, within=self.stream.batch_within_s
            ):
                await self._handle(name, step, [_message(event) for event in events])

        agent.__name__ = name
        agent.__qualname__ = name
        self.app.agent(source, name=name)(agent)

    async def _handle(self, name: str, step: Step, messages: list[Message]) -> None:
        """Run one batch to completion: outputs acknowledged by the broker, or retried.

        The step runs on ``stream.step_chunk`` messages at a time, and the event loop runs
        between chunks, so an inline request waits for one chunk at most, not for the batch.
        A dependency that is down pauses the batch until it is back, then it goes on from the
        chunk in hand. A step that fails otherwise (a bug) sends the rest of the batch to
        dead-letters, with the error: faust would acknowledge the batch of an agent that
        crashed, and its messages would vanish.
        """
        self.metrics.stream_batch_size.labels(step=name).observe(len(messages))
        pause, failed, done, chunk = 0.05, False, 0, self.stream.step_chunk
        while True:
            try:
                while done < len(messages):  # chunk by chunk: inline requests run in between
                    outputs = step(messages[done : done + chunk])
                    for topic, key, value in outputs:
                        self.publisher(topic, key, value)
                    done += chunk
                    if done < len(messages):
                        await asyncio.sleep(0)
                await self.publisher.flush()
                return
            except DependencyUnavailableError as error:
                self.metrics.stream_pauses.labels(step=name).inc()
                log.warning("%s: waiting for a dependency (%s); then retrying", name, error)
                await asyncio.sleep(pause)
                pause = min(self.stream.retry_max_s, pause * 2)
            except Exception as error:  # a bug: faust would ack the batch and lose it unseen
                if failed:
                    raise
                log.exception(
                    "%s: the step failed; the rest of the batch goes to dead-letters", name
                )
                step, failed = partial(self.steps.dead_letters, name, error=error), True

    async def _record_lag(self) -> None:
        consumer = self.app.consumer
        try:
            assignment = consumer.assignment()
            for tp in assignment:
                highwater = consumer.highwater(tp)
                position = await consumer.position(tp)
                if highwater is not None and position is not None:
                    self.metrics.consumer_lag.labels(
                        topic=tp.topic, partition=str(tp.partition)
                    ).set(max(0, highwater - position))
        except Exception as error:  # lag is an observation: never let it hurt the worker
            log.debug("lag not recorded: %s", error)
