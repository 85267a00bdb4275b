"""Decisions: the policy, the pure decision core, triggers and offers, and their stores.

- :mod:`decisions.core`: ``decide`` / ``propose``, transaction + features + scores + policy
  -> decision, pure and synchronous; :mod:`decisions.engine` adds the I/O (features, models,
  lists, caps) and is the one code path of the API, the stream agents and the backtest.
- :mod:`decisions.policy` (schema), :mod:`decisions.policy_file` (TOML with errors that name
  the line, reload without restart), ``default_policy.toml`` (the packaged default, copied to
  ``policies/default.toml``; docs/policy.md describes every key).
- :mod:`decisions.rules` (lists, limits, degraded mode), :mod:`decisions.reasons`,
  :mod:`decisions.segments` (RFM tiers), :mod:`decisions.triggers` (one class per trigger),
  :mod:`decisions.marketing` (consent, caps, quiet periods, in one place),
  :mod:`decisions.offers` (the propensity model picks the variant).
- Stores: :mod:`decisions.lists` and :mod:`decisions.caps` (Redis and in-memory twins);
  :mod:`decisions.sources` holds the protocols the engine needs of the feature store and models.
"""
