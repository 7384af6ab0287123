#!lua name=cardstream
-- Appends the events of a group of commands of one board to its log and its partition's feed,
-- atomically, each command with its own idempotency record (docs/adr/008-group-commit.md).
-- Every check runs before the first write: Lua scripts are not rolled back, so a failure after
-- a write would leave the log and the feed disagreeing. Declared without flags, so Redis refuses
-- the whole call up front when it is over maxmemory.
--
-- KEYS: 1 board log (stream, ids are versions), 2 board head (string), 3 partition feed (stream),
--       4 partition epoch (string), 5 board head hash (string), 6 partition's fenced boards
--       (hash: board id -> why), 6 + i command record (hash) of the group's i-th command
-- ARGV: 1 expected version (before the first command), 2 epoch the events carry, 3 record ttl
--       (s), 4 board id, 5 number of commands n; then for each command in order: its request
--       hash, its result to record, its number of events k, and its k encoded events
-- Returns {"OK", version after the last} | {"DUPLICATE", i, hash, result, ...} for every command
--       of the group recorded before (nothing written but their records' ttl set again) | {"FENCED", why} | {"CONFLICT", version}
--       | {"NO_EPOCH"} | {"EPOCH", epoch} | {"CHAIN", head hash or ""} | {"CORRUPT", reason}

local FIXED_KEYS = 6
local FIXED_ARGS = 5

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

local EXPECTED_TYPES = {'stream', 'string', 'stream', 'string', 'string', 'hash'}

local function check_types(keys)
  for i, key in ipairs(keys) do
    local t = key_type(key)
    local expected = EXPECTED_TYPES[i] or 'hash'
    if t ~= 'none' and t ~= expected then
      return key .. ' holds a ' .. t
    end
  end
  return nil
end

-- The commands as {hash, result, first, count}: their events are args[first .. first+count-1].
local function parse_commands(keys, args)
  local n = tonumber(args[5])
  if not n or n < 1 or #keys ~= FIXED_KEYS + n then
    return nil, 'the group names ' .. tostring(args[5]) .. ' commands and ' .. #keys .. ' keys'
  end
  local commands, at = {}, FIXED_ARGS + 1
  for i = 1, n do
    local count = tonumber(args[at + 2])
    if not count or count < 1 or at + 2 + count > #args then
      return nil, 'command ' .. i .. ' has no events'
    end
    commands[i] = {hash = args[at], result = args[at + 1], first = at + 3, count = count}
    at = at + 3 + count
  end
  if at ~= #args + 1 then
    return nil, 'arguments left over after the last command'
  end
  return commands, nil
end

local ZERO_HASH = '0000000000000000000000000000000000000000000000000000000000000000'

local function is_hash(value)
  return type(value) == 'string' and #value == 64 and string.match(value, '^%x+$') ~= nil
end

-- One decode per event: its prev_hash and hash, or nil when it has no valid pair.
local function chain_fields(encoded)
  local ok, decoded = pcall(cjson.decode, encoded)
  if not ok or type(decoded) ~= 'table' then
    return nil
  end
  if not is_hash(decoded['prev_hash']) or not is_hash(decoded['hash']) then
    return nil
  end
  return decoded['prev_hash'], decoded['hash']
end

-- The events must continue the board's chain: the first one's prev_hash is the head's hash (the
-- zero hash on an empty board) and each next one's, across the commands of the group, is the
-- hash of the one before it. A board written before the chain has no head hash yet: its first
-- chained event is taken as it says. Returns the last event's hash, or a refusal.
local function check_chain(head_hash, current, args, commands)
  local previous = head_hash
  if current == 0 then
    previous = ZERO_HASH
  end
  local n = 0
  for _, command in ipairs(commands) do
    for i = command.first, command.first + command.count - 1 do
      n = n + 1
      local prev_hash, hash = chain_fields(args[i])
      if not prev_hash then
        return nil, {'CORRUPT', 'event ' .. n .. ' has no prev_hash and hash'}
      end
      if previous and prev_hash ~= previous then
        return nil, {'CHAIN', head_hash or ''}
      end
      previous = hash
    end
  end
  return previous, nil
end

-- A found record's ttl is set again: a write, replicated, so that a WAIT after this call on the
-- caller's connection counts only replicas that have the record, and the original append with
-- it. Without a write Redis would answer that WAIT at once (it waits for the connection's own
-- last write), and a retry after a replication timeout would be acknowledged unreplicated.
local function touch(record, ttl)
  redis.call('EXPIRE', record, ttl)
end

local function duplicates(keys, commands, ttl)
  local found = {}
  for i = 1, #commands do
    local record = keys[FIXED_KEYS + i]
    local earlier = redis.call('HMGET', record, 'hash', 'result')
    if earlier[1] then
      touch(record, ttl)
      table.insert(found, i)
      table.insert(found, earlier[1])
      table.insert(found, earlier[2])
    end
  end
  if #found == 0 then
    return nil
  end
  table.insert(found, 1, 'DUPLICATE')
  return found
end

-- Everything that can refuse the group, before anything is written: the board's version at the
-- head and the hash of the last event, or a refusal.
local function check(keys, args, commands)
  local wrong = check_types(keys)
  if wrong then
    return nil, nil, {'CORRUPT', wrong}
  end
  local epoch = redis.call('GET', keys[4])
  if not epoch then
    return nil, nil, {'NO_EPOCH'}
  end
  local recorded = duplicates(keys, commands, tonumber(args[3]))
  if recorded then
    return nil, nil, recorded
  end
  -- The board's log lost versions the projector's archive holds (an older copy of Redis
  -- restored): anything appended now would mix two histories, so nothing is until an operator
  -- has recovered the board and lifted the fence. After the records, whose answers are the log's.
  local fence = redis.call('HGET', keys[6], args[4])
  if fence then
    return nil, nil, {'FENCED', fence}
  end
  if epoch ~= args[2] then
    return nil, nil, {'EPOCH', epoch}
  end
  local current = tonumber(redis.call('GET', keys[2]) or '0')
  if current ~= tonumber(args[1]) then
    return nil, nil, {'CONFLICT', current}
  end
  local tail = last_version(keys[1])
  if tail ~= current then
    return nil, nil, {'CORRUPT', 'log ends at ' .. tail .. ' but head is ' .. current}
  end
  local head_hash = redis.call('GET', keys[5])
  if head_hash == false then
    head_hash = nil
  end
  local last_hash, broken = check_chain(head_hash, current, args, commands)
  if broken then
    return nil, nil, broken
  end
  return current, last_hash, nil
end

local function append(keys, args)
  local commands, malformed = parse_commands(keys, args)
  if not commands then
    return {'CORRUPT', malformed}
  end
  local current, last_hash, refused = check(keys, args, commands)
  if refused then
    return refused
  end
  local log, feed, board, ttl = keys[1], keys[3], args[4], tonumber(args[3])
  local version = current
  for i, command in ipairs(commands) do
    for at = command.first, command.first + command.count - 1 do
      version = version + 1
      redis.call('XADD', log, version .. '-0', 'event', args[at])
      redis.call('XADD', feed, '*', 'board', board, 'version', version, 'event', args[at])
    end
    local record = keys[FIXED_KEYS + i]
    redis.call('HSET', record, 'hash', command.hash, 'result', command.result)
    redis.call('EXPIRE', record, ttl)
  end
  redis.call('SET', keys[2], version)
  redis.call('SET', keys[5], last_hash)
  return {'OK', version}
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

-- A command's record, read for a retry the append did not see (one refused or changing nothing
-- when decided again), touched for the same reason as in `duplicates`.
-- KEYS: 1 command record   ARGV: 1 record ttl (s)   Returns {hash, result} or {}
local function recorded(keys, args)
  local earlier = redis.call('HMGET', keys[1], 'hash', 'result')
  if not earlier[1] then
    return {}
  end
  touch(keys[1], tonumber(args[1]))
  return earlier
end

redis.register_function('cardstream_append', append)
-- allow-oom: its one write, a ttl, takes no memory, and a full Redis must still answer retries.
redis.register_function{
  function_name = 'cardstream_recorded', callback = recorded, flags = {'allow-oom'}
}
redis.register_function('cardstream_save_snapshot', save_snapshot)
