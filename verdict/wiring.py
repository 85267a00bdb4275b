"""The pieces of one engine, built from settings: the one place they are put together.

:func:`build_engine` gives the feature store (Redis or in memory), the policy, the caps and
lists, the model suite, the learning side and the :class:`~decisions.engine.DecisionEngine`
over them. ``verdict serve``, ``verdict demo`` and the tests build engines through it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import redis

from decisions.breaker import CircuitBreaker
from decisions.caps import InMemoryCapStore, RedisCapStore
from decisions.engine import DecisionEngine
from decisions.feedback import EngineFeedback
from decisions.lists import InMemoryListStore, ListStore, RedisListStore
from decisions.policy_file import PolicyHolder
from decisions.scoring import WARM_AFTER_LABELS, SuiteScorer, ThompsonOffers
from events.metrics import Metrics
from models.anomaly import AnomalyModel
from models.fraud import FraudModel
from models.labels import label_learner
from models.registry import LiveModel, ModelRegistry, Publisher, code_digest
from models.settings import ModelSettings
from models.suite import ModelSuite
from state.memory_store import InMemoryFeatureStore
from state.redis_store import RedisFeatureStore
from state.redis_wire import client_from_settings
from verdict.settings import Settings

if TYPE_CHECKING:
    from replay.replayed import ReplayedFeatures

log = logging.getLogger(__name__)

#: The registry role of the model suite (anomaly trees feeding the fraud model).
SUITE_ROLE = "suite"


def new_suite(models: ModelSettings) -> ModelSuite:
    """A fresh, untrained model suite as the settings describe it."""
    anomaly = AnomalyModel(
        n_trees=models.anomaly_trees,
        height=models.anomaly_height,
        window_size=models.anomaly_window,
        seed=models.anomaly_seed,
    )
    fraud = FraudModel(
        learner=models.fraud_learner,
        calibrator=models.fraud_calibrator,
        class_weight=models.fraud_class_weight,
        max_positive_weight=models.fraud_max_positive_weight,
        seed=models.fraud_seed,
        top_k=models.attributions,
    )
    return ModelSuite(anomaly, fraud)


@dataclass
class EngineParts:
    """One engine and what it is made of."""

    engine: DecisionEngine
    store: RedisFeatureStore | InMemoryFeatureStore
    feedback: EngineFeedback
    suite: ModelSuite
    offers: ThompsonOffers
    policy: PolicyHolder
    client: redis.Redis | None
    model_publisher: Publisher | None
    live: LiveModel[ModelSuite] | None

    def model_version(self) -> str:
        """The version label decisions record: ``suite:v<published>+<labels learnt since>``."""
        if self.live is not None:
            return self.live.label
        published = self.model_publisher
        if published is None:
            return f"{SUITE_ROLE}:local+{self.feedback.labels.learnt}"
        return f"{SUITE_ROLE}:v{published.version or 0}+{published.unpublished}"


def _breaker(
    client: redis.Redis | None, settings: Settings, metrics: Metrics
) -> CircuitBreaker | None:
    """The feature store, caps and lists share one Redis: one breaker for the three."""
    if client is None:
        return None
    return CircuitBreaker(
        "redis",
        client.ping,
        interval_s=settings.redis.probe_interval_s,
        trips=metrics.dependency_trips,
        open_gauge=metrics.dependency_open,
    )


def build_engine(
    settings: Settings,
    metrics: Metrics,
    *,
    state: Literal["redis", "memory"] = "redis",
    learner: bool = True,
    features: ReplayedFeatures | None = None,
    lists: ListStore | None = None,
) -> EngineParts:
    """Everything one process needs to decide and learn.

    Parameters
    ----------
    state
        ``redis``: the shared feature store, caps, lists and model registry; ``memory``: all in
        the process (backtests, tests), no registry.
    learner
        This process owns training. Otherwise it scores with the registry's versions, which
        it follows as they are published (needs ``state="redis"``).
    features
        What the engine and the label learner ask for features instead of the store: a
        two-process backtest's replay of its feature stage (:mod:`replay.pipeline`).
    lists
        The block and allow lists to use instead of the state's (a backtest's, in memory).
    """
    policy = PolicyHolder.from_settings(settings.decisions, metrics=metrics)
    suite = new_suite(settings.models)
    client: redis.Redis | None = None
    registry: ModelRegistry | None = None
    if state == "redis":
        client = client_from_settings(settings.redis)
        store: RedisFeatureStore | InMemoryFeatureStore = RedisFeatureStore(
            settings.redis, settings.state, metrics=metrics, client=client
        )
        caps: RedisCapStore | InMemoryCapStore = RedisCapStore(
            client, settings.decisions.key_prefix
        )
        own_lists: ListStore = RedisListStore(client, settings.decisions.key_prefix)
        registry = ModelRegistry(
            client, settings.models.registry_prefix, keep=settings.models.keep_versions
        )
    else:
        store = InMemoryFeatureStore(settings.state, metrics=metrics)
        caps, own_lists = InMemoryCapStore(), InMemoryListStore()
    resumed: int | None = None
    if registry is not None:  # a restarted process goes on from the newest published version
        try:
            newest = registry.current_version(SUITE_ROLE)
            meta = registry.meta(SUITE_ROLE, newest) if newest is not None else None
            same_code = meta is not None and meta.get("code") == code_digest()
            loaded = registry.load(SUITE_ROLE, newest) if same_code else None
        except Exception as error:  # unreachable, or a snapshot that does not load: start afresh
            log.warning("no model resumed from the registry (%s): starting untrained", error)
            loaded = None
        if loaded is not None and isinstance(loaded[1], ModelSuite):
            resumed, suite = loaded[0], loaded[1]
    if not learner and registry is None:
        raise ValueError("a scorer that is not the learner follows the registry: state='redis'")
    publisher = live = None
    if learner and registry is not None:
        publisher = Publisher(
            registry,
            SUITE_ROLE,
            suite,
            every_labels=settings.models.publish_every_labels,
            every_s=settings.models.publish_every_s,
            metrics=metrics,
        )
        publisher.version = resumed
    elif registry is not None:
        live = LiveModel(
            registry,
            SUITE_ROLE,
            suite,
            check_every_s=settings.models.reload_check_s,
            metrics=metrics,
        )
    offers = ThompsonOffers(
        settings.models.propensity_prior_accept,
        settings.models.propensity_prior_precision,
        settings.models.propensity_seed,
    )
    holder: list[EngineParts] = []

    def current() -> tuple[str, ModelSuite]:
        parts = holder[0]
        if parts.live is not None:
            _, model = parts.live.get()
            return parts.live.label, model
        return parts.model_version(), parts.suite

    def warm() -> bool:
        parts = holder[0]
        if parts.live is not None:
            return parts.live.version > 0  # the learner publishes only after learning labels
        return resumed is not None or parts.feedback.labels.learnt >= WARM_AFTER_LABELS

    engine = DecisionEngine(
        policy, features or store, SuiteScorer(current, warm=warm), caps,
        lists if lists is not None else own_lists, offers=offers,
        metrics=metrics, breaker=_breaker(client, settings, metrics),
    )  # fmt: skip
    labels = label_learner(suite, features or store, settings.models, metrics)
    feedback = EngineFeedback(engine, labels, offers, publisher)
    parts = EngineParts(engine, store, feedback, suite, offers, policy, client, publisher, live)
    holder.append(parts)
    return parts
