//! The Lua scripts (SPEC §8), each loaded once and then run by its SHA (`redis::Script` sends
//! `EVALSHA`, and `SCRIPT LOAD`s on a `NOSCRIPT`). Every key a script touches is passed in
//! `KEYS`, all with the pool's hash tag.

use std::sync::LazyLock;

use redis::Script;

/// Bind-if-absent: `SET NX PX`, and the account bound afterwards, whoever won.
/// `KEYS[1]` the binding, `ARGV[1]` the email, `ARGV[2]` the TTL in ms.
pub(crate) static BIND_IF_ABSENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return ARGV[1]
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('GET', KEYS[1])
",
    )
});

/// Compare-and-delete: unbind only if still bound to the failed account.
/// `KEYS[1]` the binding, `ARGV[1]` the failed account's email. Returns 1 if it unbound.
pub(crate) static UNBIND_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// A cooldown that never shortens: kept if one ending later is there, else set to expire at
/// its deadline; and the consecutive count raised (never lowered) for an hour.
/// `KEYS[1]` the cooldown, `KEYS[2]` the count; `ARGV[1]` the deadline (ms since the epoch),
/// `ARGV[2]` the reason, `ARGV[3]` the count. Returns the deadline in force.
pub(crate) static MARK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local deadline = tonumber(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local held = tonumber(string.match(current, '^(%d+)'))
  if held and held >= deadline then
    deadline = held
  else
    current = false
  end
end
if not current then
  redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PXAT', ARGV[1])
end
local n = tonumber(ARGV[3])
local had = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > had then
  redis.call('SET', KEYS[2], n, 'EX', 3600)
end
return deadline
",
    )
});
