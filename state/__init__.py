"""The feature store: rolling per-customer, per-terminal and per-device features on event time.

:mod:`state.store` is the contract (``FeatureStore``, ``FeatureStoreUnavailable``);
:mod:`state.redis_store` keeps the state in Redis (Lua scripts in ``state/lua``),
:mod:`state.memory_store` in the process. docs/features.md describes every feature.
"""
