"""The engine in-process (no HTTP): requests that the worker takes together are answered as if alone."""

import concurrent.futures

import pytest

from recbole_hydra.serving import models
from recbole_hydra.serving.engine import Engine, _Job
from recbole_hydra.serving.store import Event
from recbole_hydra.serving.stores import open_store


@pytest.fixture
def engine(checkpoints, tmp_path):
    engine = Engine(models.load(checkpoints["causal"]), open_store(str(tmp_path / "store.sqlite")))
    yield engine
    engine.close()


def test_recommendations_taken_together_equal_each_alone(engine):
    events = [Event(user, f"i{(n * 7 + len(user)) % 30}") for n in range(12) for user in ("a", "bb", "ccc")]
    engine.post_events(events).result()
    asked = [(["a", "bb"], 2, True), (["bb", "ccc", "new"], 5, True), (["a", "ccc"], 3, False)]
    alone = [engine.recommend(users, k, exclude).result()[1] for users, k, exclude in asked]
    jobs = [_Job("recommend", payload, concurrent.futures.Future()) for payload in asked]
    engine._recommend(jobs)  # one run, as the worker takes waiting requests together
    for job, expected in zip(jobs, alone):
        together = job.future.result()[1]
        assert [(r.user, r.items, r.cold_start) for r in together] == [
            (r.user, r.items, r.cold_start) for r in expected
        ]
        assert all(len(r.items) == job.payload[1] for r in together)
