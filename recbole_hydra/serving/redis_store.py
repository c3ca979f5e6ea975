"""The shared store: Redis, for several service processes or machines.

Layout (prefix `hydrarec:`): one list per user, `hydrarec:log:<user>`, whose n-th entry is the
user's event n as JSON `[item, timestamp]` (so a user's last sequence number is the list's length),
and the set `hydrarec:users`. An append is one Lua script, which Redis runs atomically: it checks
every user's length against the writer's `expected` and pushes the whole batch, or pushes nothing.

Durability is the Redis server's: a reply means the write is in its memory and, with
`appendonly yes` and `appendfsync always`, fsynced to its append-only file before the reply.
  full     (the default) the store checks at start that the server runs with exactly those two
           settings and refuses it otherwise (without them a crash of Redis loses acknowledged
           events);
  relaxed  no check: acknowledged events are as safe as the server's own settings make them.
A plain Redis Cluster is not supported: a batch's keys would span slots.
"""

import json

from recbole_hydra.serving.store import Logged, SeqConflict, Store, StoreError

PREFIX = "hydrarec:"
CHUNK = 1000  # commands per pipeline round trip

# KEYS: the users set, then one log per distinct user of the batch.
# ARGV: n users; their expected lengths (n); their names (n); then (user index from 0, entry) per event.
APPEND = """
local n = tonumber(ARGV[1])
local stale = {}
for i = 1, n do
  local current = redis.call('LLEN', KEYS[i + 1])
  if current ~= tonumber(ARGV[1 + i]) then
    table.insert(stale, i)
    table.insert(stale, current)
  end
end
if #stale > 0 then return stale end
for j = 2 + 2 * n, #ARGV, 2 do
  redis.call('RPUSH', KEYS[tonumber(ARGV[j]) + 2], ARGV[j + 1])
end
for i = 1, n do
  redis.call('SADD', KEYS[1], ARGV[1 + n + i])
end
return stale
"""


class RedisStore(Store):
    def __init__(self, url, durability="full"):
        import redis

        self._errors = (redis.RedisError, OSError)
        self.url = url
        self.client = redis.Redis.from_url(url)
        try:
            self.client.ping()
            if durability == "full":
                self._check_durable()
            self._append = self.client.register_script(APPEND)
        except self._errors as error:
            raise StoreError(f"store {url}: cannot use this Redis ({type(error).__name__}: {error})") from None
        self.description = f"redis {url} ({'appendfsync always, checked' if durability == 'full' else 'not checked'})"

    def _check_durable(self):
        settings = self.client.config_get("append*")  # {b'appendonly': b'yes', b'appendfsync': b'always', ...}
        settings = {_text(key): _text(value) for key, value in settings.items()}
        if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
            raise StoreError(
                f"store {self.url}: Redis runs with appendonly {settings.get('appendonly')!r} and appendfsync "
                f"{settings.get('appendfsync')!r}, so a crash of Redis would lose acknowledged events; start it with "
                "'--appendonly yes --appendfsync always', or accept that with --durability relaxed"
            )

    @staticmethod
    def _log(user):
        return f"{PREFIX}log:{user}"

    def append(self, events, expected):
        users = list(expected)
        index = {user: i for i, user in enumerate(users)}
        args = [len(users)] + [expected[user] for user in users] + users
        next_seq, seqs = dict(expected), []
        for event in events:
            args += [index[event.user], json.dumps([event.item, event.timestamp])]
            next_seq[event.user] += 1
            seqs.append(next_seq[event.user])
        try:
            stale = self._append(keys=[PREFIX + "users"] + [self._log(user) for user in users], args=args)
        except self._errors as error:
            raise StoreError(f"store {self.url}: {type(error).__name__}: {error}") from None
        if stale:
            raise SeqConflict({users[int(i) - 1]: int(seq) for i, seq in zip(stale[::2], stale[1::2])})
        return seqs

    def _pipelined(self, users, command):
        """[command(pipeline, user) result for each user], CHUNK commands per round trip."""
        results = []
        try:
            for start in range(0, len(users), CHUNK):
                pipe = self.client.pipeline(transaction=False)
                for user in users[start : start + CHUNK]:
                    command(pipe, user)
                results += pipe.execute()
        except self._errors as error:
            raise StoreError(f"store {self.url}: {type(error).__name__}: {error}") from None
        return results

    def last_seqs(self, users):
        users = list(users)
        return dict(zip(users, (int(n) for n in self._pipelined(users, lambda pipe, user: pipe.llen(self._log(user))))))

    def read(self, after):
        users = list(after)
        entries = self._pipelined(users, lambda pipe, user: pipe.lrange(self._log(user), after[user], -1))
        return {
            user: [Logged(after[user] + 1 + n, *json.loads(entry)) for n, entry in enumerate(logged)]
            for user, logged in zip(users, entries)
        }

    def all_seqs(self):
        try:
            users = sorted(_text(user) for user in self.client.smembers(PREFIX + "users"))
        except self._errors as error:
            raise StoreError(f"store {self.url}: {type(error).__name__}: {error}") from None
        return self.last_seqs(users)

    def close(self):
        self.client.close()


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)
