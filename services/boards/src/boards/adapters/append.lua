#!lua name=cardstream
-- Appends one command's events to a board's log and its partition's feed, atomically.
-- Every check runs before the first write: Lua scripts are not rolled back, so a failure after
-- a write would leave the log and the feed disagreeing. Declared without flags, so Redis refuses
-- the whole call up front when it is over maxmemory.
--
-- KEYS: 1 board log (stream, ids are versions), 2 board head (string), 3 command record (hash),
--       4 partition feed (stream), 5 partition epoch (string)
-- ARGV: 1 expected version, 2 epoch the events carry, 3 request hash, 4 result to record,
--       5 record ttl (s), 6 board id, 7.. encoded events in version order
-- Returns {"OK", version} | {"DUPLICATE", hash, result} | {"CONFLICT", version} | {"NO_EPOCH"}
--       | {"EPOCH", epoch} | {"CORRUPT", reason}

local function key_type(key)
  return redis.call('TYPE', key)['ok']
end

local function last_version(log)
  if key_type(log) == 'none' then
    return 0
  end
  -- last-generated-id survives trimming, unlike the last entry.
  local info = redis.call('XINFO', 'STREAM', log)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return tonumber(string.match(info[i + 1], '^(%d+)-'))
    end
  end
  return -1
end

local function check_types(keys)
  local expected = {'stream', 'string', 'hash', 'stream', 'string'}
  for i, key in ipairs(keys) do
    local t = key_type(key)
    if t ~= 'none' and t ~= expected[i] then
      return key .. ' holds a ' .. t
    end
  end
  return nil
end

local function append(keys, args)
  local log, head, record, feed, epoch_key = keys[1], keys[2], keys[3], keys[4], keys[5]
  local wrong = check_types(keys)
  if wrong then
    return {'CORRUPT', wrong}
  end
  local epoch = redis.call('GET', epoch_key)
  if not epoch then
    return {'NO_EPOCH'}
  end
  local earlier = redis.call('HMGET', record, 'hash', 'result')
  if earlier[1] then
    return {'DUPLICATE', earlier[1], earlier[2]}
  end
  if epoch ~= args[2] then
    return {'EPOCH', epoch}
  end
  local current = tonumber(redis.call('GET', head) or '0')
  if current ~= tonumber(args[1]) then
    return {'CONFLICT', current}
  end
  local tail = last_version(log)
  if tail ~= current then
    return {'CORRUPT', 'log ends at ' .. tail .. ' but head is ' .. current}
  end
  local count = #args - 6
  if count < 1 then
    return {'CORRUPT', 'no events to append'}
  end

  for i = 1, count do
    local version = current + i
    redis.call('XADD', log, version .. '-0', 'event', args[6 + i])
    redis.call('XADD', feed, '*', 'board', args[6], 'version', version, 'event', args[6 + i])
  end
  redis.call('SET', head, current + count)
  redis.call('HSET', record, 'hash', args[3], 'result', args[4])
  redis.call('EXPIRE', record, tonumber(args[5]))
  return {'OK', current + count}
end

-- Keeps the newest snapshot of a board: an older one (a slow writer) never replaces it.
-- KEYS: 1 snapshot (hash: version, data)   ARGV: 1 version, 2 data   Returns 1 if stored, else 0
local function save_snapshot(keys, args)
  local stored = tonumber(redis.call('HGET', keys[1], 'version') or '-1')
  if tonumber(args[1]) <= stored then
    return 0
  end
  redis.call('HSET', keys[1], 'version', args[1], 'data', args[2])
  return 1
end

redis.register_function('cardstream_append', append)
redis.register_function('cardstream_save_snapshot', save_snapshot)
