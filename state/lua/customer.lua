-- One customer: record a transaction and answer its part ('u'), the live view ('v'), a label
-- ('l') or a profile ('p'). The line-by-line reference is state/customer.py; keep them in step.
-- KEYS: state {c:ID}, day bucket of dedupe records {c:ID}:s:<day>.
-- 'u' ARGV: tx_id, ts, debit 1/0, cents, month, month_next, terminal hash, country, device hash.
--
-- The state is one string: a header, then small sorted tables, then the debits of the last
-- 30 days + margin (9 bytes each). A customer makes a few transactions a day, so one GET and
-- one SET of ~1.5 KB cost less than finer-grained commands; the debit log is read in place
-- (struct.unpack at an offset) and only copied once, into the new value.
local WIN = {3600, 86400, 604800, 2592000}
local W90, D30, D7 = 7776000, 2592000, 604800
local M = {{MARGIN}}
local RET_DEB, RET_CRED, RET_TERM = 2592000 + M, 7776000 + M, 2592000 + M
local RET_CTRY, RET_DEV, RET_FRAUD, TOO_LATE = 7776000 + M, 7776000 + M, 2592000 + M, 7776000 + M
local MONTHS_KEPT, NO_MONTH, NO_HOME = 4, -32768, '\0\0'
-- ver, now, profile (home, consent, ts), debit pointers x4, debit sums x4, squares, credit
-- pointer, credit sum, latest month, then the entry counts of: terminals, countries, devices,
-- months, fraud times, credits, debits
local HDR = '<BI4c2BI4I3I3I3I3dddddI3di2I3I3I3I3I3I3I3'
local REC = '<I3I6'
local PART = '<i4i4i4i4ddddi4i4i4Bdi4dddi4i4I4'
local PART_LEN = struct.size(PART)

local function empty(s)
  s.now, s.dp, s.ds, s.dq, s.cp, s.cs, s.mmax = 0, {0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0, NO_MONTH
  s.terms, s.ctry, s.devs, s.mon, s.fraud, s.cred = '', '', '', '', '', ''
  s.blob, s.od, s.dn, s.dk, s.deb, s.add = '', 1, 0, 0, nil, nil
  return s
end

-- s.blob, s.od (offset of the debits), s.dn (their count) stay as loaded; s.dk debits dropped
-- from the front and s.add an appended record (in order), or s.deb the whole new log (late).
local function load(blob)
  if not blob then return empty({home = NO_HOME, consent = 0, pts = 0}) end
  local _, now, home, consent, pts, p1, p2, p3, p4, s1, s2, s3, s4, dq, cp, cs, mmax, nt, nc, nd,
        nm, nf, ncr, ndb, pos = struct.unpack(HDR, blob)
  local s = {now = now, home = home, consent = consent, pts = pts, dp = {p1, p2, p3, p4},
             ds = {s1, s2, s3, s4}, dq = dq, cp = cp, cs = cs, mmax = mmax, blob = blob,
             dn = ndb, dk = 0}
  local function cut(len)
    local part = string.sub(blob, pos, pos + len - 1)
    pos = pos + len
    return part
  end
  s.terms, s.ctry, s.devs, s.mon = cut(nt * 7), cut(nc * 5), cut(nd * 7), cut(nm * 10)
  s.fraud, s.cred = cut(nf * 3), cut(ncr * 9)
  s.od = pos
  return s
end

local function debits(s)
  if s.deb then return s.deb end
  return string.sub(s.blob, s.od + s.dk * 9, s.od + s.dn * 9 - 1) .. (s.add or '')
end

local function save(s)
  local n = s.dn - s.dk
  if s.deb then n = #s.deb / 9 elseif s.add then n = n + 1 end
  redis.call('SET', KEYS[1], table.concat({struct.pack(HDR, 1, s.now, s.home, s.consent, s.pts,
    s.dp[1], s.dp[2], s.dp[3], s.dp[4], s.ds[1], s.ds[2], s.ds[3], s.ds[4], s.dq, s.cp, s.cs,
    s.mmax, #s.terms / 7, #s.ctry / 5, #s.devs / 7, #s.mon / 10, #s.fraud / 3, #s.cred / 9, n),
    s.terms, s.ctry, s.devs, s.mon, s.fraud, s.cred, debits(s)}), 'EX', IDLE)
end

local function m_get(mon, m)
  for i = 1, #mon / 10 do
    local k, v = struct.unpack('<i2d', mon, (i - 1) * 10 + 1)
    if k == m then return v end
  end
  return 0
end

local function m_add(s, m, net)
  local mon, keep = s.mon, s.mmax - (MONTHS_KEPT - 1)
  if s.mmax ~= NO_MONTH and m < keep then return end
  local n = #mon / 10
  if m == s.mmax then -- the common case: the latest month, the last entry
    local _, v = struct.unpack('<i2d', mon, (n - 1) * 10 + 1)
    s.mon = string.sub(mon, 1, (n - 1) * 10) .. struct.pack('<i2d', m, v + net)
    return
  end
  if s.mmax == NO_MONTH or m > s.mmax then -- a new month: append, forget the oldest
    s.mmax = m
    local first = 1
    while first <= n and struct.unpack('<i2', mon, (first - 1) * 10 + 1) < m - (MONTHS_KEPT - 1) do
      first = first + 1
    end
    s.mon = string.sub(mon, (first - 1) * 10 + 1) .. struct.pack('<i2d', m, 0 + net)
    return
  end
  -- a late transaction in an earlier kept month: add to it, or insert it in order
  for i = 1, n do
    local k, v = struct.unpack('<i2d', mon, (i - 1) * 10 + 1)
    if k == m then
      s.mon = string.sub(mon, 1, (i - 1) * 10) .. struct.pack('<i2d', m, v + net) .. string.sub(mon, i * 10 + 1)
      return
    end
    if k > m then
      s.mon = string.sub(mon, 1, (i - 1) * 10) .. struct.pack('<i2d', m, 0 + net) .. string.sub(mon, (i - 1) * 10 + 1)
      return
    end
  end
end

-- In order: slide every window to ts (running sums) and forget what left the retention.
local function advance(s, ts)
  local now, blob, od, n = s.now, s.blob, s.od, s.dn
  for w = 1, 4 do
    local edge, p = ts - WIN[w], s.dp[w]
    while p < n do
      local t, c = struct.unpack(REC, blob, od + p * 9)
      if unwrap(now, t) > edge then break end
      s.ds[w] = s.ds[w] - c
      if w == 4 then s.dq = s.dq - c * c end
      p = p + 1
    end
    s.dp[w] = p
  end
  local cred = s.cred
  local edge, p, ncr = ts - W90, s.cp, #cred / 9
  while p < ncr do
    local t, c = struct.unpack(REC, cred, p * 9 + 1)
    if unwrap(now, t) > edge then break end
    s.cs = s.cs - c
    p = p + 1
  end
  s.cp = p
  -- what falls out of the retention is before the 30-day pointer
  local k, cutoff = 0, ts - RET_DEB
  while k < s.dp[4] and unwrap(now, (struct.unpack('<I3', blob, od + k * 9))) <= cutoff do
    k = k + 1
  end
  s.dk = k
  for w = 1, 4 do s.dp[w] = s.dp[w] - k end
  s.cred, k = l_drop_through(cred, 9, now, ts - RET_CRED)
  s.cp = s.cp - k
  s.terms = t_forget(s.terms, 7, 4, now, ts - RET_TERM)
  s.ctry = t_forget(s.ctry, 5, 2, now, ts - RET_CTRY)
  s.devs = t_forget(s.devs, 7, 4, now, ts - RET_DEV)
  s.fraud = l_drop_through(s.fraud, 3, now, ts - RET_FRAUD)
  s.now = ts
end

-- A late transaction's own windows, from the whole logs.
local function scan(s, deb, ts)
  local now, cred = s.now, s.cred
  local counts, sums, sq = {}, {}, 0
  local hi = l_upper(deb, 9, now, ts)
  for w = 1, 4 do
    local lo = l_upper(deb, 9, now, ts - WIN[w])
    local total = 0
    for k = lo + 1, hi do
      local _, c = struct.unpack(REC, deb, (k - 1) * 9 + 1)
      total = total + c
      if w == 4 then sq = sq + c * c end
    end
    counts[w], sums[w] = hi - lo, total
  end
  local before = -1
  if hi > 0 then before = l_time(deb, hi, 9, now) end
  local chi = l_upper(cred, 9, now, ts)
  if chi > 0 then before = math.max(before, l_time(cred, chi, 9, now)) end
  local since = -1
  if before >= 0 then since = ts - before end
  local clo = l_upper(cred, 9, now, ts - W90)
  local inflow = 0
  for k = clo + 1, chi do
    local _, c = struct.unpack(REC, cred, (k - 1) * 9 + 1)
    inflow = inflow + c
  end
  return counts, sums, sq, since, inflow, chi - clo
end

local function months(s, tx, ts, late)
  local month, net = 0, 0
  if tx then
    month, net = tx.month, tx.cents
    if tx.debit then net = -tx.cents end
  elseif s.mmax ~= NO_MONTH then
    month = s.mmax
  end
  local m0 = m_get(s.mon, month)
  if late and tx then
    if s.mmax ~= NO_MONTH and month >= s.mmax - (MONTHS_KEPT - 1) then
      -- the month's bucket holds everything known; take back what came after ts
      local deb = s.deb
      for k = l_upper(deb, 9, s.now, ts) + 1, #deb / 9 do
        local t, c = struct.unpack(REC, deb, (k - 1) * 9 + 1)
        if unwrap(s.now, t) < tx.mnext then m0 = m0 + c end
      end
      for k = l_upper(s.cred, 9, s.now, ts) + 1, #s.cred / 9 do
        local t, c = struct.unpack(REC, s.cred, (k - 1) * 9 + 1)
        if unwrap(s.now, t) < tx.mnext then m0 = m0 - c end
      end
    else
      m0 = 0
    end
  end
  return m0 + net, m_get(s.mon, month - 1), m_get(s.mon, month - 2)
end

local function features(s, tx, ts, prev, late)
  local counts, sums, sq, since, inflow, inflow_n
  if late then
    counts, sums, sq, since, inflow, inflow_n = scan(s, s.deb, ts)
  else
    counts, sums, sq, since = {}, {}, s.dq, -1
    local n = s.dn - s.dk
    for w = 1, 4 do counts[w], sums[w] = n - s.dp[w], s.ds[w] end
    if prev > 0 then since = ts - prev end
    inflow, inflow_n = s.cs, #s.cred / 9 - s.cp
  end
  local tkey, ckey, dkey
  if tx then
    local c = tx.cents
    if tx.debit then
      for w = 1, 4 do counts[w], sums[w] = counts[w] + 1, sums[w] + c end
      sq = sq + c * c
    else
      inflow, inflow_n = inflow + c, inflow_n + 1
    end
    if tx.thash ~= '' then tkey = tx.thash end
    if tx.country ~= '' then ckey = tx.country end
    if tx.dhash ~= '' then dkey = tx.dhash end
  end
  local now = s.now
  local terms = t_count(s.terms, 7, 4, now, ts - D30, tkey)
  local ctry = t_count(s.ctry, 5, 2, now, ts - D30, ckey)
  local flags = 0
  if dkey and not t_seen_after(s.devs, 7, 4, now, dkey, ts - W90) then flags = flags + 1 end
  if ckey and not t_seen_after(s.ctry, 5, 2, now, ckey, ts - W90) then flags = flags + 2 end
  if s.home ~= NO_HOME then
    if ckey and ckey ~= s.home then flags = flags + 4 end
    if s.consent == 1 then flags = flags + 8 end
  end
  local m0, m1, m2 = months(s, tx, ts, late)
  local f7 = l_count_in(s.fraud, 3, now, ts - D7, ts)
  local f30 = l_count_in(s.fraud, 3, now, ts - D30, ts)
  local latest = prev
  if tx then latest = math.max(prev, ts) end
  return struct.pack(PART, counts[1], counts[2], counts[3], counts[4], sums[2], sums[3], sums[4],
    sq, since, terms, ctry, flags, inflow, inflow_n, m0, m1, m2, f7, f30, latest)
end

local function insert(s, tx, late)
  local ts, c, now = tx.ts, tx.cents, s.now
  local rec = struct.pack(REC, ts % W24, c)
  if tx.debit then
    if not late then
      s.add = rec
      for w = 1, 4 do s.ds[w] = s.ds[w] + c end
      s.dq = s.dq + c * c
    elseif ts > now - RET_DEB then
      s.deb = rare().insert(s.deb, 9, now, ts, rec)
      for w = 1, 4 do
        if ts > now - WIN[w] then
          s.ds[w] = s.ds[w] + c
          if w == 4 then s.dq = s.dq + c * c end
        else
          s.dp[w] = s.dp[w] + 1
        end
      end
    end
  elseif not late then
    s.cred = s.cred .. rec
    s.cs = s.cs + c
  elseif ts > now - RET_CRED then
    s.cred = rare().insert(s.cred, 9, now, ts, rec)
    if ts > now - W90 then s.cs = s.cs + c else s.cp = s.cp + 1 end
  end
  if tx.thash ~= '' then s.terms = t_touch(s.terms, tx.thash, 7, 4, now, ts, now - RET_TERM) end
  if tx.country ~= '' then s.ctry = t_touch(s.ctry, tx.country, 5, 2, now, ts, now - RET_CTRY) end
  if tx.dhash ~= '' then s.devs = t_touch(s.devs, tx.dhash, 7, 4, now, ts, now - RET_DEV) end
  local net = c
  if tx.debit then net = -c end
  m_add(s, tx.month, net)
end

local op = ARGV[1]
if op == 'u' then
  local old = record_get(KEYS[2], ARGV[2], PART_LEN)
  if old then return {1, old} end
  local tx = {ts = tonumber(ARGV[3]), debit = ARGV[4] == '1', cents = tonumber(ARGV[5]),
              month = tonumber(ARGV[6]), mnext = tonumber(ARGV[7]), thash = ARGV[8],
              country = ARGV[9], dhash = ARGV[10]}
  local s = load(redis.call('GET', KEYS[1]))
  if s.now > 0 and tx.ts - s.now >= IDLE then empty(s) end
  local prev, status = s.now, 0
  local late = prev > 0 and tx.ts < prev
  if late then
    status = 3
    if tx.ts <= prev - TOO_LATE then status = 2 end
    s.deb = debits(s)
  else
    advance(s, tx.ts)
  end
  local part = features(s, tx, tx.ts, prev, late)
  if status ~= 2 then
    insert(s, tx, late)
    save(s)
  end
  record_put(KEYS[2], ARGV[2], part)
  return {status, part}
elseif op == 'v' then
  local s = load(redis.call('GET', KEYS[1]))
  return {0, features(s, nil, s.now, s.now, false)}
elseif op == 'p' then
  -- ARGV: 'p', home country, consent 1/0, profile ts (0 if none); an older profile is ignored
  local s = load(redis.call('GET', KEYS[1]))
  local pts = tonumber(ARGV[4])
  if s.home ~= NO_HOME and pts < s.pts then return {0, ''} end
  s.home, s.consent, s.pts = ARGV[2], tonumber(ARGV[3]), pts
  save(s)
  return {1, ''}
elseif op == 'l' then
  return rare().label(KEYS[2], PART_LEN, load, save, RET_FRAUD)
end
return redis.error_reply('unknown op ' .. tostring(op))
