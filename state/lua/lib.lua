-- Helpers shared by the entity scripts; state/scripts.py puts this file in front of each.
-- They mirror state/lastseen.py and state/windows.py: keep them in step.
--
-- Times inside packed structures are 24-bit (I3), taken modulo 2^24 s (194 days): every kept
-- time is within 97 days of the entity's latest event time `now`, so unwrap(now, r) restores it.
local W24 = 16777216
local IDLE = {{IDLE_EXPIRY}}

local function unwrap(now, r)
  return now - ((now - r) % W24)
end

-- Sorted lists of records of `rs` bytes whose first 3 bytes are a time.
local function l_time(l, i, rs, now)
  return unwrap(now, (struct.unpack('<I3', l, (i - 1) * rs + 1)))
end

-- How many records have a time <= x.
local function l_upper(l, rs, now, x)
  local lo, hi = 0, #l / rs
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if l_time(l, mid + 1, rs, now) <= x then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function l_drop_through(l, rs, now, cutoff)
  local k = l_upper(l, rs, now, cutoff)
  if k == 0 then return l, 0 end
  return string.sub(l, k * rs + 1), k
end

local function l_count_in(l, rs, now, lo, hi)
  return l_upper(l, rs, now, hi) - l_upper(l, rs, now, lo)
end

-- Last-seen tables: entries of `es` bytes, a key of `ks` bytes then its I3 last-seen time,
-- sorted by that time.
local function t_find(t, key, es)
  local from = 1
  while true do
    local at = string.find(t, key, from, true)
    if not at then return nil end
    if (at - 1) % es == 0 then return (at - 1) / es + 1 end
    from = at + 1
  end
end

local function t_last(t, i, es, ks, now)
  return unwrap(now, (struct.unpack('<I3', t, (i - 1) * es + ks + 1)))
end

-- Keys last seen after `edge`, counting `key` (may be nil) as seen now.
local function t_count(t, es, ks, now, edge, key)
  local n = #t / es
  local i = 1
  while i <= n and t_last(t, i, es, ks, now) <= edge do i = i + 1 end
  local count = n - i + 1
  if key then
    local k = t_find(t, key, es)
    if not k or k < i then count = count + 1 end
  end
  return count
end

local function t_seen_after(t, es, ks, now, key, edge)
  local k = t_find(t, key, es)
  return k ~= nil and t_last(t, k, es, ks, now) > edge
end

local function t_touch(t, key, es, ks, now, ts, cutoff)
  if ts <= cutoff then return t end
  local k = t_find(t, key, es)
  if k then
    if t_last(t, k, es, ks, now) >= ts then return t end
    t = string.sub(t, 1, (k - 1) * es) .. string.sub(t, k * es + 1)
  end
  local j = #t / es
  while j >= 1 and t_last(t, j, es, ks, now) > ts do j = j - 1 end
  return string.sub(t, 1, j * es) .. key .. struct.pack('<I3', ts % W24) .. string.sub(t, j * es + 1)
end

local function t_forget(t, es, ks, now, cutoff)
  local n, i = #t / es, 1
  while i <= n and t_last(t, i, es, ks, now) <= cutoff do i = i + 1 end
  if i == 1 then return t end
  return string.sub(t, (i - 1) * es + 1)
end

local NO_LABEL = struct.pack('<BI4', 0, 0)

-- Dedupe records of one event-time day of this entity: a hash tx_id -> its part, then its
-- label; field '_' marks a bucket whose expiry is set, so EXPIRE runs once per bucket.
local bucket_new = false

local function record_get(bucket, tx_id, part_len)
  local got = redis.call('HMGET', bucket, tx_id, '_')
  bucket_new = not got[2]
  if got[1] then return string.sub(got[1], 1, part_len) end
  return nil
end

local function record_put(bucket, tx_id, part)
  if bucket_new then
    redis.call('HSET', bucket, tx_id, part .. NO_LABEL, '_', '')
    redis.call('EXPIRE', bucket, {{SNAPSHOT_TTL}})
  else
    redis.call('HSET', bucket, tx_id, part .. NO_LABEL)
  end
end

-- Helpers of the rare paths (late transactions, labels), built only when one runs: every
-- function defined at the top of a script is built again on every call of it.
local function rare()
  local R = {}

  function R.insert(l, rs, now, ts, rec)
    local k = l_upper(l, rs, now, ts)
    return string.sub(l, 1, k * rs) .. rec .. string.sub(l, k * rs + 1)
  end

  function R.remove(l, rs, now, ts)
    local k = l_upper(l, rs, now, ts)
    if k >= 1 and l_time(l, k, rs, now) == ts then
      return string.sub(l, 1, (k - 1) * rs) .. string.sub(l, k * rs + 1)
    end
    return l
  end

  -- Labels: the latest label time wins, a fraud verdict wins a tie (state/memory_store.py).
  -- Returns outcome (0 applied, 1 repeated, 2 stale), the record's new label and label time.
  function R.outcome(label, label_ts, fraud, lts)
    local verdict = 2
    if fraud then verdict = 1 end
    if label ~= 0 then
      if lts < label_ts or (lts == label_ts and not fraud) then
        if label == verdict then return 1, label, label_ts end
        return 2, label, label_ts
      end
      if label == verdict then return 1, label, lts end
    end
    return 0, verdict, lts
  end

  -- Apply a label to this entity's record, and to its fraud times (`fraud_of(s)` gets and
  -- sets them) when the fraud status flips. ARGV: 'l', tx_id, tx ts, fraud 1/0, label ts.
  function R.label(bucket, part_len, load, save, retention)
    local tx_id, fraud, lts = ARGV[2], ARGV[4] == '1', tonumber(ARGV[5])
    local rec = redis.call('HGET', bucket, tx_id)
    if not rec then return {3, ''} end
    local part = string.sub(rec, 1, part_len)
    local label, label_ts = struct.unpack('<BI4', rec, part_len + 1)
    local outcome, new_label, new_ts = R.outcome(label, label_ts, fraud, lts)
    if new_label ~= label or new_ts ~= label_ts then
      redis.call('HSET', bucket, tx_id, part .. struct.pack('<BI4', new_label, new_ts))
    end
    if outcome == 0 and (label == 1) ~= fraud then
      local blob = redis.call('GET', KEYS[1])
      if blob then
        local s, ts = load(blob), tonumber(ARGV[3])
        if not fraud then
          s.fraud = R.remove(s.fraud, 3, s.now, ts)
        elseif ts > s.now - retention then
          s.fraud = R.insert(s.fraud, 3, s.now, ts, struct.pack('<I3', ts % W24))
        end
        save(s)
      end
    end
    return {outcome, part}
  end

  return R
end
