#!lua name=cardstream
-- Appends one command's events to a board's log and its partition's feed, atomically.
-- Every check runs before the first write: Lua scripts are not rolled back, so a failure after
-- a write would leave the log and the feed disagreeing. Declared without flags, so Redis refuses
-- the whole call up front when it is over maxmemory.
--
-- KEYS: 1 board log (stream, ids are versions), 2 board head (string), 3 command record (hash),
--       4 partition feed (stream), 5 partition epoch (string), 6 board head hash (string)
-- ARGV: 1 expected version, 2 epoch the events carry, 3 request hash, 4 result to record,
--       5 record ttl (s), 6 board id, 7.. encoded events in version order
-- Returns {"OK", version} | {"DUPLICATE", hash, result} | {"CONFLICT", version} | {"NO_EPOCH"}
--       | {"EPOCH", epoch} | {"CHAIN", head hash or ""} | {"CORRUPT", reason}

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
  local expected = {'stream', 'string', 'hash', 'stream', 'string', 'string'}
  for i, key in ipairs(keys) do
    local t = key_type(key)
    if t ~= 'none' and t ~= expected[i] then
      return key .. ' holds a ' .. t
    end
  end
  return nil
end

local ZERO_HASH = '0000000000000000000000000000000000000000000000000000000000000000'

local function chain_field(encoded, name)
  local ok, decoded = pcall(cjson.decode, encoded)
  if not ok or type(decoded) ~= 'table' then
    return nil
  end
  local value = decoded[name]
  if type(value) ~= 'string' or not string.match(value, '^%x+$') or #value ~= 64 then
    return nil
  end
  return value
end

-- The events must continue the board's chain: the first one's prev_hash is the head's hash (the
-- zero hash on an empty board) and each next one's is the hash of the one before it. A board
-- written before the chain has no head hash yet: its first chained event is taken as it says.
local function check_chain(head_hash, current, args, count)
  local previous = head_hash
  if current == 0 then
    previous = ZERO_HASH
  end
  for i = 1, count do
    local prev_hash = chain_field(args[6 + i], 'prev_hash')
    local hash = chain_field(args[6 + i], 'hash')
    if not prev_hash or not hash then
      return {'CORRUPT', 'event ' .. i .. ' has no prev_hash and hash'}
    end
    if previous and prev_hash ~= previous then
      return {'CHAIN', head_hash or ''}
    end
    previous = hash
  end
  return nil
end

local function append(keys, args)
  local log, head, record, feed, epoch_key = keys[1], keys[2], keys[3], keys[4], keys[5]
  local head_hash_key = keys[6]
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
  local head_hash = redis.call('GET', head_hash_key)
  if head_hash == false then
    head_hash = nil
  end
  local broken = check_chain(head_hash, current, args, count)
  if broken then
    return broken
  end

  for i = 1, count do
    local version = current + i
    redis.call('XADD', log, version .. '-0', 'event', args[6 + i])
    redis.call('XADD', feed, '*', 'board', args[6], 'version', version, 'event', args[6 + i])
  end
  redis.call('SET', head, current + count)
  redis.call('SET', head_hash_key, chain_field(args[6 + count], 'hash'))
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
