-- One device: record a transaction and answer its part ('u'), the live view ('v'), or a label
-- ('l'). The line-by-line reference is DeviceLedger in state/terminal.py.
-- KEYS: state {d:ID}, day bucket of dedupe records {d:ID}:s:<day>.
-- 'u' ARGV: tx_id, ts, customer hash.
local DAY, D30 = 86400, 2592000
local RET_CUST = 86400 + {{MARGIN}}
local RET_FRAUD = 2592000 + {{MARGIN}}
local TOO_LATE = 2592000 + {{MARGIN}}
-- ver, now, then the entry counts of: customers (hash, last seen), fraud times
local HDR = '<BI4I3I3'
local PART = '<i4i4I4'
local PART_LEN = struct.size(PART)

local function load(blob)
  local s = {now = 0, cust = '', fraud = ''}
  if not blob then return s end
  local _, now, nc, nf, pos = struct.unpack(HDR, blob)
  s.now = now
  s.cust = string.sub(blob, pos, pos + nc * 7 - 1)
  s.fraud = string.sub(blob, pos + nc * 7, pos + nc * 7 + nf * 3 - 1)
  return s
end

local function save(s)
  redis.call('SET', KEYS[1], struct.pack(HDR, 1, s.now, #s.cust / 7, #s.fraud / 3) .. s.cust .. s.fraud,
    'EX', IDLE)
end

local op = ARGV[1]
if op == 'u' then
  local old = record_get(KEYS[2], ARGV[2], PART_LEN)
  if old then return {1, old} end
  local ts, key = tonumber(ARGV[3]), ARGV[4]
  local s = load(redis.call('GET', KEYS[1]))
  if s.now > 0 and ts - s.now >= IDLE then s = load(false) end
  local prev, status = s.now, 0
  local late = prev > 0 and ts < prev
  if late then
    status = 3
    if ts <= prev - TOO_LATE then status = 2 end
  else
    s.cust = t_forget(s.cust, 7, 4, prev, ts - RET_CUST)
    s.fraud = l_drop_through(s.fraud, 3, prev, ts - RET_FRAUD)
    s.now = ts
  end
  local customers = t_count(s.cust, 7, 4, s.now, ts - DAY, key)
  local fraud = l_count_in(s.fraud, 3, s.now, ts - D30, ts)
  if status ~= 2 then s.cust = t_touch(s.cust, key, 7, 4, s.now, ts, s.now - RET_CUST) end
  local part = struct.pack(PART, customers, fraud, math.max(prev, ts))
  if status ~= 2 then save(s) end
  record_put(KEYS[2], ARGV[2], part)
  return {status, part}
elseif op == 'v' then
  local s = load(redis.call('GET', KEYS[1]))
  return {0, struct.pack(PART, t_count(s.cust, 7, 4, s.now, s.now - DAY, nil),
    l_count_in(s.fraud, 3, s.now, s.now - D30, s.now), s.now)}
elseif op == 'l' then
  return rare().label(KEYS[2], PART_LEN, load, save, RET_FRAUD)
end
return redis.error_reply('unknown op ' .. tostring(op))
