-- One terminal: record a transaction and answer its part ('u'), the live view ('v'), or a
-- label ('l'). The line-by-line reference is TerminalLedger in state/terminal.py.
-- KEYS: state {t:ID}, seconds ring {t:ID}:r, bucket ring {t:ID}:h, day bucket {t:ID}:s:<day>.
-- 'u' ARGV: tx_id, ts.
--
-- Busy merchants carry most of the traffic, so a transaction in order costs O(1) commands
-- whatever the terminal's volume: the per-second counts and the buckets live in rings (string
-- keys written in place with SETRANGE), and the header caches what each window needs next (the
-- time at each pointer, the bucket cut by each long window's edge, the newest records), so a
-- ring is read only when a window actually slides over one of its records.
local DAY, D7, D30 = 86400, 604800, 2592000
local LONG = {604800, 2592000}
local B = {{BUCKET}}
local M = {{MARGIN}}
local RET_SEC, RET_BUCKET, RET_FRAUD = 86400 + M, 2592000 + M, 2592000 + M
local RING_TTL = IDLE + DAY
local SEC, BUCK = '<I3I3', '<I3I3HH' -- (t, n); (start, n, first, last second offset)
local NONE = 4294967295 -- no record at that pointer
local SPAN = 8 -- records read per GETRANGE when a window slides
local LAZY = 16 -- forgotten records tolerated before the rings' fronts are trimmed
-- ver, now, day of the rings' last TTL refresh,
-- seconds ring (head, n, cap), 1-day pointer, 1-day count, time at the pointer, newest (t, n),
-- bucket ring (head, n, cap), newest bucket (h, n, first, last),
-- per long window: pointer, count of its whole buckets, bucket index at the pointer, and the
-- bucket before the pointer (h, n, first, last),
-- count of fraud times (which follow the header)
local HDR = '<BI4I3I3I3I3I3I4I4I4I3I3I3I3I4I3HHI3I4I4I4I3HHI3I4I4I4I3HHI3'
local PART = '<i4i4i4i4i4I4'
local PART_LEN = struct.size(PART)

local function ring(key, rs, head, n, cap)
  return {key = key, rs = rs, head = head, n = n, cap = cap}
end

-- up to k records from index i (0-based, oldest first): one GETRANGE, two when wrapping
local function r_span(r, i, k)
  if i + k > r.n then k = r.n - i end
  local a = (r.head + i) % r.cap
  local b = a + k
  local out
  if b <= r.cap then
    out = redis.call('GETRANGE', r.key, a * r.rs, b * r.rs - 1)
  else
    out = redis.call('GETRANGE', r.key, a * r.rs, r.cap * r.rs - 1)
      .. redis.call('GETRANGE', r.key, 0, (b - r.cap) * r.rs - 1)
  end
  if #out ~= k * r.rs then error('verdict: ring ' .. r.key .. ' lost (is maxmemory evicting?)') end
  return out
end

local function r_put(r, i, rec)
  redis.call('SETRANGE', r.key, ((r.head + i) % r.cap) * r.rs, rec)
end

-- Rewriting a whole ring (it grew full, shrank, or a late transaction went in the middle) is
-- rare: its helpers are built only then.
local function whole()
  local W = {}

  function W.all(r)
    if r.n == 0 then return '' end
    return r_span(r, 0, r.n)
  end

  -- new content (records in order), with room for ~1/8 more
  function W.replace(r, all)
    local n = #all / r.rs
    if n == 0 then
      if r.cap > 0 then redis.call('DEL', r.key) end
      r.head, r.n, r.cap = 0, 0, 0
      return
    end
    local cap = n + math.floor(n / 8) + 2
    redis.call('SET', r.key, all .. string.rep('\0', (cap - n) * r.rs), 'EX', RING_TTL)
    r.head, r.n, r.cap = 0, n, cap
  end

  return W
end

local function r_push(r, rec)
  if r.n == r.cap then
    local w = whole()
    w.replace(r, w.all(r) .. rec)
  else
    r_put(r, r.n, rec)
    r.n = r.n + 1
  end
end

local function r_drop(r, k)
  r.head, r.n = (r.head + k) % r.cap, r.n - k
  if r.cap > 2 * r.n + 16 then
    local w = whole()
    w.replace(r, w.all(r))
  end
end

-- how many of the oldest records (at most `limit`) have a time at or before cutoff
local function r_leading_span(r, now, cutoff, limit, rs)
  local k = 0
  while k < limit do
    local span = r_span(r, k, math.min(2 * SPAN, limit - k))
    for j = 0, #span / rs - 1 do
      if unwrap(now, (struct.unpack('<I3', span, j * rs + 1))) > cutoff then return k end
      k = k + 1
    end
  end
  return k
end

local function empty(s)
  redis.call('DEL', KEYS[2], KEYS[3])
  s.now, s.ttl_day, s.p1d, s.c1d, s.tnext, s.lt, s.ln = 0, 0, 0, 0, NONE, 0, 0
  s.sr, s.br = ring(KEYS[2], 6, 0, 0, 0), ring(KEYS[3], 10, 0, 0, 0)
  s.last = {-1, 0, 0, 0}
  s.bp, s.bc, s.hnext, s.edge = {0, 0}, {0, 0}, {NONE, NONE}, {{-1, 0, 0, 0}, {-1, 0, 0, 0}}
  s.fraud = ''
  return s
end

local function load(blob)
  if not blob then return empty({}) end
  local v = {struct.unpack(HDR, blob)}
  local s = {now = v[2], ttl_day = v[3], sr = ring(KEYS[2], 6, v[4], v[5], v[6]), p1d = v[7],
             c1d = v[8], tnext = v[9], lt = v[10], ln = v[11],
             br = ring(KEYS[3], 10, v[12], v[13], v[14]), last = {v[15], v[16], v[17], v[18]},
             bp = {v[19], v[26]}, bc = {v[20], v[27]}, hnext = {v[21], v[28]},
             edge = {{v[22], v[23], v[24], v[25]}, {v[29], v[30], v[31], v[32]}}}
  s.fraud = string.sub(blob, v[34], v[34] + v[33] * 3 - 1)
  return s
end

local function save(s)
  local day = math.floor(s.now / DAY)
  if day ~= s.ttl_day then
    for _, r in ipairs({s.sr, s.br}) do
      if r.cap > 0 then redis.call('EXPIRE', r.key, RING_TTL) end
    end
    s.ttl_day = day
  end
  local e1, e2 = s.edge[1], s.edge[2]
  redis.call('SET', KEYS[1], struct.pack(HDR, 1, s.now, s.ttl_day, s.sr.head, s.sr.n, s.sr.cap,
    s.p1d, s.c1d, s.tnext, s.lt, s.ln, s.br.head, s.br.n, s.br.cap, s.last[1], s.last[2],
    s.last[3], s.last[4], s.bp[1], s.bc[1], s.hnext[1], e1[1], e1[2], e1[3], e1[4], s.bp[2],
    s.bc[2], s.hnext[2], e2[1], e2[2], e2[3], e2[4], #s.fraud / 3) .. s.fraud, 'EX', IDLE)
end

-- a bucket record: index h, count, first and last second offsets
local function unbucket(rec, now, pos)
  local start, n, lo, hi = struct.unpack('<I3I3HH', rec, pos)
  return unwrap(now, start) / B, n, lo, hi
end

local function later_than(count, lo, hi, edge)
  if edge < lo then return count end
  if edge >= hi then return 0 end
  return count - 1 - math.floor((edge - lo) * (count - 1) / (hi - lo))
end

local function running(s, i, ts)
  local edge, e = ts - LONG[i], s.edge[i]
  local count = s.bc[i]
  if s.bp[i] > 0 and e[1] == math.floor(edge / B) then
    local base = e[1] * B
    count = count + later_than(e[2], base + e[3], base + e[4], edge)
  end
  return count
end

-- In order: slide the windows to ts, reading a ring only where a window passes a record.
local function advance(s, ts)
  local now, sr, br = s.now, s.sr, s.br
  local edge, p = ts - DAY, s.p1d
  while s.tnext ~= NONE and s.tnext <= edge do
    local span = r_span(sr, p, SPAN)
    for k = 0, #span / 6 - 1 do
      local t, n = struct.unpack(SEC, span, k * 6 + 1)
      t = unwrap(now, t)
      if t > edge then
        s.tnext = t
        break
      end
      s.c1d, p = s.c1d - n, p + 1
      if p == sr.n then s.tnext = NONE end
    end
  end
  s.p1d = p
  for i = 1, 2 do
    local he = math.floor((ts - LONG[i]) / B)
    p = s.bp[i]
    while s.hnext[i] ~= NONE and s.hnext[i] <= he do
      local span = r_span(br, p, SPAN)
      for k = 0, #span / 10 - 1 do
        local h, n, lo, hi = unbucket(span, now, k * 10 + 1)
        if h > he then
          s.hnext[i] = h
          break
        end
        s.bc[i], s.edge[i], p = s.bc[i] - n, {h, n, lo, hi}, p + 1
        if p == br.n then s.hnext[i] = NONE end
      end
    end
    s.bp[i] = p
  end
  -- forget what left the retention, a few records at a time (all before the pointers)
  if s.p1d >= LAZY then
    local k = r_leading_span(sr, now, ts - RET_SEC, s.p1d, 6)
    if k > 0 then
      r_drop(sr, k)
      s.p1d = s.p1d - k
    end
  end
  if s.bp[2] >= LAZY then
    local k = r_leading_span(br, now, (math.floor((ts - RET_BUCKET) / B) - 1) * B, s.bp[2], 10)
    if k > 0 then
      r_drop(br, k)
      s.bp[1], s.bp[2] = s.bp[1] - k, s.bp[2] - k
    end
  end
  s.fraud = l_drop_through(s.fraud, 3, now, ts - RET_FRAUD)
  s.now = ts
end

local function insert_in_order(s, ts)
  local sr, br = s.sr, s.br
  if sr.n > 0 and s.lt == ts then
    s.ln = s.ln + 1
    r_put(sr, sr.n - 1, struct.pack(SEC, ts % W24, s.ln))
  else
    if s.p1d == sr.n then s.tnext = ts end
    r_push(sr, struct.pack(SEC, ts % W24, 1))
    s.lt, s.ln = ts, 1
  end
  s.c1d = s.c1d + 1
  local h = math.floor(ts / B)
  local offset, last = ts - h * B, s.last
  if last[1] == h then
    last[2], last[4] = last[2] + 1, math.max(last[4], offset)
    r_put(br, br.n - 1, struct.pack(BUCK, (h * B) % W24, last[2], last[3], last[4]))
  else
    for i = 1, 2 do
      if s.bp[i] == br.n then s.hnext[i] = h end
    end
    r_push(br, struct.pack(BUCK, (h * B) % W24, 1, offset, offset))
    s.last = {h, 1, offset, offset}
  end
  s.bc[1], s.bc[2] = s.bc[1] + 1, s.bc[2] + 1
end

-- The slow path of a transaction out of order, built only when one comes.
local function slow()
  -- Every cache of the header, from whole rings (after the slow path rewrote them).
  local function recache(s, sec, buck)
    local now = s.now
    local ns, nb = #sec / 6, #buck / 10
    s.tnext = NONE
    if s.p1d < ns then s.tnext = l_time(sec, s.p1d + 1, 6, now) end
    s.lt, s.ln = 0, 0
    if ns > 0 then
      local t, n = struct.unpack(SEC, sec, (ns - 1) * 6 + 1)
      s.lt, s.ln = unwrap(now, t), n
    end
    s.last = {-1, 0, 0, 0}
    if nb > 0 then s.last = {unbucket(buck, now, (nb - 1) * 10 + 1)} end
    for i = 1, 2 do
      local p = s.bp[i]
      s.hnext[i], s.edge[i] = NONE, {-1, 0, 0, 0}
      if p < nb then s.hnext[i] = (unbucket(buck, now, p * 10 + 1)) end
      if p > 0 then s.edge[i] = {unbucket(buck, now, (p - 1) * 10 + 1)} end
    end
  end

  -- Out of order: the whole rings, in order, as the reference keeps them (forgotten records
  -- dropped); the transaction's own counts by scanning them; then, unless it is too late, its
  -- insertion in place and the rings rewritten.
  local function late_path(s, ts, record)
    local w = whole()
    local now = s.now
    local sec, buck, k = w.all(s.sr), w.all(s.br), 0
    sec, k = l_drop_through(sec, 6, now, now - RET_SEC)
    s.p1d = s.p1d - k
    buck, k = l_drop_through(buck, 10, now, (math.floor((now - RET_BUCKET) / B) - 1) * B)
    s.bp[1], s.bp[2] = s.bp[1] - k, s.bp[2] - k
    local lo, hi = l_upper(sec, 6, now, ts - DAY), l_upper(sec, 6, now, ts)
    local c1d = 0
    for j = lo + 1, hi do
      local _, n = struct.unpack(SEC, sec, (j - 1) * 6 + 1)
      c1d = c1d + n
    end
    local counts = {c1d}
    local own = math.floor(ts / B)
    for i = 1, 2 do
      local edge = ts - LONG[i]
      local first = math.floor(edge / B)
      local count = 0
      for j = 1, #buck / 10 do
        local h, n, blo, bhi = unbucket(buck, now, (j - 1) * 10 + 1)
        if h > own then break end
        if h == first then
          count = count + later_than(n, h * B + blo, h * B + bhi, edge)
        elseif h == own then
          count = count + n - later_than(n, h * B + blo, h * B + bhi, ts)
        elseif h > first then
          count = count + n
        end
      end
      counts[i + 1] = count
    end
    if not record then return counts end
    local h = own
    local start = h * B
    local offset = ts - start
    if ts > now - RET_SEC then
      local at = l_upper(sec, 6, now, ts - 1)
      if at < #sec / 6 and l_time(sec, at + 1, 6, now) == ts then
        local _, n = struct.unpack(SEC, sec, at * 6 + 1)
        sec = string.sub(sec, 1, at * 6) .. struct.pack(SEC, ts % W24, n + 1) .. string.sub(sec, at * 6 + 7)
        if ts > now - DAY then s.c1d = s.c1d + 1 end
      else
        sec = string.sub(sec, 1, at * 6) .. struct.pack(SEC, ts % W24, 1) .. string.sub(sec, at * 6 + 1)
        if ts > now - DAY then s.c1d = s.c1d + 1 else s.p1d = s.p1d + 1 end
      end
    end
    local at = l_upper(buck, 10, now, start - 1)
    local found = false
    if at < #buck / 10 then
      local bh, bn, blo, bhi = unbucket(buck, now, at * 10 + 1)
      if bh == h then
        found = true
        buck = string.sub(buck, 1, at * 10)
          .. struct.pack(BUCK, start % W24, bn + 1, math.min(blo, offset), math.max(bhi, offset))
          .. string.sub(buck, at * 10 + 11)
      end
    end
    if not found then
      buck = string.sub(buck, 1, at * 10) .. struct.pack(BUCK, start % W24, 1, offset, offset)
        .. string.sub(buck, at * 10 + 1)
    end
    for i = 1, 2 do
      if h > math.floor((now - LONG[i]) / B) then
        s.bc[i] = s.bc[i] + 1
      elseif not found then
        s.bp[i] = s.bp[i] + 1
      end
    end
    w.replace(s.sr, sec)
    w.replace(s.br, buck)
    recache(s, sec, buck)
    return counts
  end

  return late_path
end

local function fraud_counts(s, ts)
  return l_count_in(s.fraud, 3, s.now, ts - D7, ts), l_count_in(s.fraud, 3, s.now, ts - D30, ts)
end

local op = ARGV[1]
if op == 'u' then
  local old = record_get(KEYS[4], ARGV[2], PART_LEN)
  if old then return {1, old} end
  local ts = tonumber(ARGV[3])
  local s = load(redis.call('GET', KEYS[1]))
  if s.now > 0 and ts - s.now >= IDLE then empty(s) end
  local prev, status, counts = s.now, 0, nil
  if prev > 0 and ts < prev then
    status = 3
    if (math.floor(ts / B) + 1) * B <= prev - RET_BUCKET then status = 2 end
    counts = slow()(s, ts, status ~= 2)
  else
    advance(s, ts)
    counts = {s.c1d, running(s, 1, ts), running(s, 2, ts)}
    insert_in_order(s, ts)
  end
  local f7, f30 = fraud_counts(s, ts)
  local part = struct.pack(PART, counts[1] + 1, counts[2] + 1, counts[3] + 1, f7, f30,
    math.max(prev, ts))
  if status ~= 2 then save(s) end
  record_put(KEYS[4], ARGV[2], part)
  return {status, part}
elseif op == 'v' then
  local s = load(redis.call('GET', KEYS[1]))
  local f7, f30 = fraud_counts(s, s.now)
  return {0, struct.pack(PART, s.c1d, running(s, 1, s.now), running(s, 2, s.now), f7, f30, s.now)}
elseif op == 'l' then
  return rare().label(KEYS[4], PART_LEN, load, save, RET_FRAUD)
end
return redis.error_reply('unknown op ' .. tostring(op))
