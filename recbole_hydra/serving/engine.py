"""The service without HTTP: one worker thread owns the user states and runs every request in the
order it arrived, so one user's events are applied in order and a read sees every write before it.

An events request goes: items checked against the model's catalogue (an unknown one fails the
request alone, before anything is written) → appended to the store in one durable transaction
with every other events request waiting at that moment (group commit; the store checks each
user's sequence number) → applied to the states in one batched model step → acknowledged.
States are a cache of the store's log. A user whose state is missing or behind the log (after a
restart, or because another replica sharing the store took their last events) is brought up to
date from the log before anything else is done for them: a conflicting append makes the writer
catch up and retry, and every read first compares sequence numbers with the store.

A model swap loads and checks the new checkpoint and rebuilds every user's state from the log
in a background thread while the old model keeps answering; then the worker catches the new
states up with the events logged meanwhile and switches, between two requests.
"""

import concurrent.futures
import os
import queue
import socket
import threading
import time
from typing import List, NamedTuple, Optional

from recbole_hydra.serving import models
from recbole_hydra.serving.metrics import Metrics
from recbole_hydra.serving.store import SeqConflict, StoreError

MAX_BATCH = 512  # jobs the worker takes at once: one append and one model step for all their events
APPEND_TRIES = 5  # conflicting appends before giving up (each loses only to another writer's progress)
REBUILD_CHUNK = 256  # users replayed together when a new model's states are built


class RequestError(Exception):
    """A request that cannot be served; `status` is its HTTP status, the message one line."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Reply(NamedTuple):
    user: str
    items: List[str]
    scores: List[float]
    cold_start: Optional[str]  # why these items, when the user has no events


class _Job(NamedTuple):
    kind: str  # "events", "recommend" or "switch"
    payload: object
    future: concurrent.futures.Future


class Engine:
    def __init__(self, served, store, metrics=None, data_path=None):
        self.served, self.store, self.data_path = served, store, data_path
        self.states = served.new_states()
        self.metrics = metrics or Metrics()
        self.metrics.set_model(served.version)
        self.metrics.users_held.set_function(lambda: len(self.states))
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self._queue = queue.SimpleQueue()
        self._swap_lock = threading.Lock()
        self._worker = threading.Thread(target=self._run, name="hydrarec-worker", daemon=True)
        self._worker.start()

    # ----- the calls: any thread; each returns a concurrent.futures.Future --------------------------

    def post_events(self, events, k=None, exclude_seen=True):
        """Future of {'model_version', 'seqs', 'recommendations' (with k: a Reply per user)}."""
        return self._submit("events", (list(events), k, exclude_seen))

    def recommend(self, users, k=10, exclude_seen=True):
        """Future of (model version, [Reply per user])."""
        return self._submit("recommend", (list(users), k, exclude_seen))

    def health(self):
        return {
            "status": "ok",
            "model_version": self.served.version,
            "model": self.served.describe(),
            "checkpoint": self.served.checkpoint,
            "users_held": len(self.states),
            "store": self.store.description,
            "replica": self.replica,
            "swapping": self._swap_lock.locked(),
        }

    def close(self):
        """Finish the queued requests, stop the worker, release the store."""
        self._queue.put(None)
        self._worker.join()
        self.store.close()

    def _submit(self, kind, payload):
        future = concurrent.futures.Future()
        self._queue.put(_Job(kind, payload, future))
        return future

    # ----- the worker ----------------------------------------------------------------------------

    def _run(self):
        stopping = False
        while not stopping:
            jobs = [self._queue.get()]
            while len(jobs) < MAX_BATCH:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in jobs:  # close(): what came before it still runs
                stopping = True
                jobs = jobs[: jobs.index(None)]
            start = 0
            while start < len(jobs):  # runs of one kind together, in arrival order
                end = start + 1
                while end < len(jobs) and jobs[end].kind == jobs[start].kind != "switch":
                    end += 1
                self._run_group(jobs[start:end])
                start = end

    def _run_group(self, jobs):
        try:
            {"events": self._apply_events, "recommend": self._recommend, "switch": self._switch}[jobs[0].kind](jobs)
        except Exception as error:  # the worker never dies: the group's requests fail, one line each
            if isinstance(error, RequestError):
                failure = error
            elif isinstance(error, StoreError):
                failure = RequestError(503, f"store unavailable: {error}")
            else:
                first = str(error).strip().splitlines()
                failure = RequestError(500, f"{type(error).__name__}: {first[0] if first else ''}")
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(failure)

    def _apply_events(self, jobs):
        served, states = self.served, self.states
        accepted = []
        for job in jobs:
            events = job.payload[0]
            unknown = next((n for n, event in enumerate(events) if not served.knows(event.item)), None)
            if unknown is None:
                accepted.append(job)
                continue
            field = f"events[{unknown}].item" if len(events) > 1 else "item"
            job.future.set_exception(
                RequestError(
                    404,
                    f"{field}: unknown item {events[unknown].item!r}, not in the catalogue of model "
                    f"{served.version}; nothing was written",
                )
            )
        events = [event for job in accepted for event in job.payload[0]]
        if not events:
            return
        users = list(dict.fromkeys(event.user for event in events))
        for _ in range(APPEND_TRIES):
            expected = {user: states.length(user) if user in states else 0 for user in users}
            try:
                start = time.perf_counter()
                seqs = self.store.append(events, expected)
                self.metrics.append_seconds.observe(time.perf_counter() - start)
                break
            except SeqConflict as conflict:  # another writer moved these users on: catch up, retry
                self._catch_up(states, conflict.current)
        else:
            raise RequestError(503, f"the store's logs of {len(users)} user(s) kept moving; nothing was written")
        self.metrics.append_batch.observe(len(events))
        try:
            states.update_many([event.user for event in events], [event.item for event in events])
        except Exception:  # durable but not applied: rebuild those users from the log, which has them
            self._catch_up(states, {user: 0 for user in users}, replay=True)
        self.metrics.events.inc(len(events))

        wanted = [job for job in accepted if job.payload[1]]
        replies = self._replies(states, served, wanted)
        done = 0
        for job in accepted:
            count = len(job.payload[0])
            result = {"model_version": served.version, "seqs": seqs[done : done + count]}
            if job.payload[1]:
                result["recommendations"] = replies[id(job)]
            job.future.set_result(result)
            done += count

    def _replies(self, states, served, jobs):
        """{id(job): [Reply per distinct user of the job]} for jobs (users, k, exclude_seen) or events jobs.

        One recommend_many per exclude_seen value for all jobs together, at their largest k, then cut
        to each job's k: one matrix product (and for the recompute baseline one padded re-encode).
        """
        asked, wanted = [], {}  # (job, users, k, exclude_seen); exclude_seen → {user: largest k}
        for job in jobs:
            payload, k, exclude_seen = job.payload
            users = list(dict.fromkeys(getattr(entry, "user", entry) for entry in payload))
            asked.append((job, users, k, exclude_seen))
            for user in users:
                if user in states and states.length(user):  # none: cold start
                    ks = wanted.setdefault(exclude_seen, {})
                    ks[user] = max(ks.get(user, 0), k)
        found = {}
        for exclude_seen, ks in wanted.items():
            users = list(ks)
            for user, found_for in zip(users, states.recommend_many(users, max(ks.values()), exclude_seen)):
                found[exclude_seen, user] = found_for
        replies = {}
        for job, users, k, exclude_seen in asked:
            replies[id(job)] = [
                Reply(user, found[exclude_seen, user].items[:k], found[exclude_seen, user].scores[:k], None)
                if (exclude_seen, user) in found
                else Reply(user, *served.cold_start(k), models.COLD_START)
                for user in users
            ]
        return replies

    def _recommend(self, jobs):
        served, states = self.served, self.states
        users = list(dict.fromkeys(user for job in jobs for user in job.payload[0]))
        logged = self.store.last_seqs(users)  # other writers, a restart: the log says how far each user is
        behind = {user: seq for user, seq in logged.items() if seq != (states.length(user) if user in states else 0)}
        if behind:
            self._catch_up(states, behind)
        replies = self._replies(states, served, jobs)
        for job in jobs:
            job.future.set_result((served.version, replies[id(job)]))

    def _catch_up(self, states, current, replay=False):
        """Bring `states` to the log for each user of `current` ({user: last sequence number there})."""
        held = {user: states.length(user) for user in current if user in states}
        # A user not held, held ahead of the log, or asked to replay is rebuilt from the start.
        after = {user: 0 if replay or current[user] < held.get(user, 0) else held.get(user, 0) for user in current}
        logs = self.store.read(after)
        fresh = [user for user in logs if after[user] == 0]
        onward = [(user, logged.item) for user in logs if after[user] > 0 for logged in logs[user]]
        try:
            if fresh:
                states.replay(fresh, [[logged.item for logged in logs[user]] for user in fresh])
            if onward:
                states.update_many(*zip(*onward))
        except KeyError as error:
            raise RequestError(500, f"the event log holds an item this model lacks: {error.args[0]}") from None
        self.metrics.caught_up.inc(len(logs))

    def _switch(self, jobs):
        (job,) = jobs
        served, states = job.payload
        logged = self.store.all_seqs()
        behind = {user: seq for user, seq in logged.items() if seq != (states.length(user) if user in states else 0)}
        if behind:  # events logged while the new states were rebuilt
            self._catch_up(states, behind)
        previous = self.served.version
        self.served, self.states = served, states
        self.metrics.set_model(served.version)
        job.future.set_result({"model_version": served.version, "previous_version": previous, "caught_up": len(behind)})

    # ----- hot swap --------------------------------------------------------------------------------

    def swap(self, checkpoint):
        """Serve `checkpoint` instead, without a pause; blocks until switched. RequestError when refused
        (the old model stays): 409 while another swap runs, 422 for a checkpoint the service refuses."""
        if not self._swap_lock.acquire(blocking=False):
            raise RequestError(409, "a model swap is already running")
        start = time.perf_counter()
        try:
            old = self.served
            try:
                served = models.load(checkpoint, recompute=old.recompute, data_path=self.data_path)
            except models.ModelRefused as error:
                raise RequestError(422, f"refused: {error}; still serving {old.version}") from None
            states = served.new_states()
            logged = self.store.all_seqs()
            users = sorted(logged)
            for begin in range(0, len(users), REBUILD_CHUNK):
                chunk = users[begin : begin + REBUILD_CHUNK]
                logs = self.store.read({user: 0 for user in chunk})
                missing = sorted({e.item for user in chunk for e in logs[user] if not served.knows(e.item)})
                if missing:
                    raise RequestError(
                        422,
                        f"refused: {checkpoint}: the event logs hold items its catalogue lacks, "
                        f"e.g. {missing[:5]}; still serving {old.version}",
                    )
                states.replay(chunk, [[e.item for e in logs[user]] for user in chunk])
            result = self._submit("switch", (served, states)).result()
            self.metrics.swaps.labels("ok").inc()
            return dict(result, users_rebuilt=len(users), seconds=round(time.perf_counter() - start, 3))
        except Exception:
            self.metrics.swaps.labels("refused").inc()
            raise
        finally:
            self._swap_lock.release()
