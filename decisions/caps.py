"""The two :class:`~decisions.marketing.CapStore` implementations: in memory and in Redis.

Both run the same algorithm on event time (milliseconds): :class:`InMemoryCapStore` is the
reference, in plain Python, for unit tests and backtests; :class:`RedisCapStore` mirrors it
line by line in one Lua script, so several workers share the caps atomically. One
integration suite runs the same cases on both.

Per customer the history is three kinds of sorted sets (member -> event time): the triggers
admitted per code (per-code cooldowns), the marketing triggers admitted (rolling window cap)
and the quiet-period starts (``decline:<tx_id>``, ``fraud:<ref>``). On Redis the keys carry
the customer's hash tag (``verdict:mkt:{c:42}:grants``), so the layout runs on Redis Cluster.

Per-code cooldowns are symmetric in event time (no other admission within the cooldown
before *or after*), so a late event cannot sneak a second offer in; the window cap checks
every window that contains the new trigger, for the same reason.

>>> store = InMemoryCapStore()
>>> limits = CapLimits(window_ms=7 * 86_400_000, max_per_window=3, quiet_decline_ms=0,
...                    quiet_fraud_ms=0)
>>> offer = CapRequest("tr-1", "travel_offer", True, 30 * 86_400_000)
>>> store.admit("c1", 1_000, [offer], limits), store.admit("c1", 2_000, [offer], limits)
([None], [None])
>>> store.admit("c1", 3_000, [CapRequest("tr-2", "travel_offer", True, 30 * 86_400_000)], limits)
['offer_cap']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from decisions.marketing import (
    COOLDOWN,
    DECLINE,
    FRAUD,
    MIN_RETENTION_MS,
    OFFER_CAP,
    QUIET_AFTER_DECLINE,
    QUIET_AFTER_FRAUD,
    WINDOW_CAP,
    CapLimits,
    CapRequest,
)


def window_full(times: Iterable[int], ts: int, window: int, most: int) -> bool:
    """Whether one more event at ``ts`` would put more than ``most`` in a window ``(e - w, e]``.

    Only windows that contain ``ts`` can overflow: their right ends are ``ts`` and the events
    in ``(ts, ts + w)``.
    """
    near = [t for t in times if ts - window < t < ts + window]
    near.append(ts)
    for end in near:
        if end < ts:
            continue
        if sum(1 for t in near if end - window < t <= end) > most:
            return True
    return False


@dataclass
class _Ledger:
    """One customer's history: trigger id -> event time, per code; marketing; quiet starts."""

    codes: dict[str, dict[str, int]] = field(default_factory=dict)
    grants: dict[str, int] = field(default_factory=dict)
    quiet: dict[str, int] = field(default_factory=dict)

    def verdict(self, request: CapRequest, ts: int, limits: CapLimits) -> str | None:
        """``None`` if ``request`` may go out at ``ts``, else the rule that holds it back."""
        times = self.codes.setdefault(request.code, {})
        if request.trigger_id in times:
            return None  # admitted before: a redelivery gets the same answer
        if request.marketing:
            rule = self.quiet_rule(ts, limits)
            if rule is not None:
                return rule
        cooldown = request.cooldown_ms
        if cooldown > 0 and any(abs(t - ts) < cooldown for t in times.values()):
            return OFFER_CAP if request.marketing else COOLDOWN
        if (
            request.marketing
            and limits.window_ms > 0
            and window_full(self.grants.values(), ts, limits.window_ms, limits.max_per_window)
        ):
            return WINDOW_CAP
        return None

    def quiet_rule(self, ts: int, limits: CapLimits) -> str | None:
        fraud = False
        for member, start in self.quiet.items():
            kind = member.partition(":")[0]
            if kind == DECLINE and ts - limits.quiet_decline_ms < start <= ts:
                return QUIET_AFTER_DECLINE
            if kind == FRAUD and ts - limits.quiet_fraud_ms < start <= ts:
                fraud = True
        return QUIET_AFTER_FRAUD if fraud else None

    def trim(self, codes: Iterable[str], before: int) -> None:
        """Forget what is older than ``before`` in these codes, the grants and the quiet starts."""
        for times in (*(self.codes[code] for code in codes), self.grants, self.quiet):
            for member in [m for m, t in times.items() if t < before]:
                del times[member]


class InMemoryCapStore:
    """Caps in the process: the reference implementation (tests, backtests, one worker)."""

    def __init__(self) -> None:
        self._ledgers: dict[str, _Ledger] = {}

    def admit(
        self,
        customer_id: str,
        ts_ms: int,
        requests: Sequence[CapRequest],
        limits: CapLimits,
        decline_ref: str | None = None,
    ) -> list[str | None]:
        """See :meth:`decisions.marketing.CapStore.admit`."""
        ledger = self._ledgers.setdefault(customer_id, _Ledger())
        if decline_ref is not None:
            ledger.quiet[f"{DECLINE}:{decline_ref}"] = ts_ms
        out: list[str | None] = []
        for request in requests:
            rule = ledger.verdict(request, ts_ms, limits)
            times = ledger.codes[request.code]
            if rule is None and request.trigger_id not in times:  # a redelivery keeps its time
                times[request.trigger_id] = ts_ms
                if request.marketing:
                    ledger.grants[request.trigger_id] = ts_ms
            out.append(rule)
        ledger.trim({r.code for r in requests}, ts_ms - limits.retention_ms(requests))
        return out

    def note_fraud(self, customer_id: str, ts_ms: int, ref: str) -> None:
        """See :meth:`decisions.marketing.CapStore.note_fraud`."""
        ledger = self._ledgers.setdefault(customer_id, _Ledger())
        ledger.quiet[f"{FRAUD}:{ref}"] = ts_ms


#: TTL of a quiet-period key written outside an admission (refreshed by the next admission).
MIN_TTL_S: Final = MIN_RETENTION_MS // 1000 + 1

# KEYS: grants, quiet, then one per-code key per request.
# ARGV: ts, window, most, quiet_decline, quiet_fraud, retention, ttl_s, decline_ref, n, then
# (trigger_id, marketing 0/1, cooldown) per request. Mirrors InMemoryCapStore.admit.
ADMIT_LUA: Final = """
local ts = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local q_decline = tonumber(ARGV[4])
local q_fraud = tonumber(ARGV[5])
local retention = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local decline_ref = ARGV[8]
local n = tonumber(ARGV[9])
local function num(x) return string.format('%d', x) end

if decline_ref ~= '' then
  redis.call('ZADD', KEYS[2], num(ts), 'decline:' .. decline_ref)
end

local function quiet_rule()
  local longest = math.max(q_decline, q_fraud)
  if longest <= 0 then return '' end
  local rows = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. num(ts - longest), num(ts), 'WITHSCORES')
  local fraud = false
  for i = 1, #rows, 2 do
    local kind = string.match(rows[i], '^([^:]*)')
    local start = tonumber(rows[i + 1])
    if kind == 'decline' and start > ts - q_decline then return 'quiet_after_decline' end
    if kind == 'fraud' and start > ts - q_fraud then fraud = true end
  end
  if fraud then return 'quiet_after_fraud' end
  return ''
end

local function window_full()
  local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. num(ts - window),
    '(' .. num(ts + window), 'WITHSCORES')
  local near = {}
  for i = 2, #rows, 2 do near[#near + 1] = tonumber(rows[i]) end
  near[#near + 1] = ts
  for _, e in ipairs(near) do
    if e >= ts then
      local count = 0
      for _, t in ipairs(near) do
        if t > e - window and t <= e then count = count + 1 end
      end
      if count > most then return true end
    end
  end
  return false
end

local out = {}
for i = 1, n do
  local base = 9 + (i - 1) * 3
  local id = ARGV[base + 1]
  local marketing = ARGV[base + 2] == '1'
  local cooldown = tonumber(ARGV[base + 3])
  local key = KEYS[2 + i]
  local rule = ''
  if not redis.call('ZSCORE', key, id) then
    if marketing then rule = quiet_rule() end
    if rule == '' and cooldown > 0 then
      if redis.call('ZCOUNT', key, '(' .. num(ts - cooldown), '(' .. num(ts + cooldown)) > 0 then
        if marketing then rule = 'offer_cap' else rule = 'cooldown' end
      end
    end
    if rule == '' and marketing and window > 0 and window_full() then rule = 'window_cap' end
    if rule == '' then
      redis.call('ZADD', key, num(ts), id)
      if marketing then redis.call('ZADD', KEYS[1], num(ts), id) end
    end
  end
  out[i] = rule
end
for k = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. num(ts - retention))
  redis.call('EXPIRE', KEYS[k], ttl)
end
return out
"""


class RedisCapStore:
    """Caps in Redis: one atomic Lua call per decision that has triggers (or is a decline).

    Parameters
    ----------
    client
        A Redis client (``decode_responses`` either way) that gives up within its timeouts
        and does not retry (``state.redis_wire.client_from_settings``): redis-py's default
        client backs off for seconds when Redis is down.
    prefix
        Key prefix (settings ``decisions.key_prefix``).
    """

    def __init__(self, client: redis.Redis, prefix: str = "verdict") -> None:
        self._client = client
        self._prefix = prefix
        self._admit = client.register_script(ADMIT_LUA)

    def _key(self, customer_id: str, suffix: str) -> str:
        return f"{self._prefix}:mkt:{{c:{customer_id}}}:{suffix}"

    def admit(
        self,
        customer_id: str,
        ts_ms: int,
        requests: Sequence[CapRequest],
        limits: CapLimits,
        decline_ref: str | None = None,
    ) -> list[str | None]:
        """See :meth:`decisions.marketing.CapStore.admit`."""
        retention = limits.retention_ms(requests)
        keys = [self._key(customer_id, "grants"), self._key(customer_id, "quiet")]
        keys += [self._key(customer_id, f"code:{request.code}") for request in requests]
        args: list[Any] = [
            ts_ms,
            limits.window_ms,
            limits.max_per_window,
            limits.quiet_decline_ms,
            limits.quiet_fraud_ms,
            retention,
            retention // 1000 + 1,
            decline_ref or "",
            len(requests),
        ]
        for request in requests:
            args += [request.trigger_id, int(request.marketing), request.cooldown_ms]
        answer = self._admit(keys=keys, args=args)
        return [_text(rule) or None for rule in answer]

    def note_fraud(self, customer_id: str, ts_ms: int, ref: str) -> None:
        """See :meth:`decisions.marketing.CapStore.note_fraud`."""
        key = self._key(customer_id, "quiet")
        pipe = self._client.pipeline(transaction=True)
        pipe.zadd(key, {f"{FRAUD}:{ref}": ts_ms})
        pipe.expire(key, MIN_TTL_S)
        pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
