"""What GET /metrics reports, in Prometheus' text format: one private registry per service, so
several services (tests, Ray Serve replicas) in one process never mix their counts."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Seconds, from well under the 10 ms target to a slow swap.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "hydrarec_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "hydrarec_request_seconds", "HTTP request latency by route", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.events = Counter("hydrarec_events", "events acknowledged: durable in the store and applied", registry=r)
        self.append_seconds = Histogram(
            "hydrarec_store_append_seconds",
            "one durable append of a batch of events",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.append_batch = Histogram(
            "hydrarec_store_append_events",
            "events per durable append (group commit)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.caught_up = Counter(
            "hydrarec_caught_up_users",
            "user states brought up to date from the log (restart, other writers)",
            registry=r,
        )
        self.users_held = Gauge("hydrarec_users_held", "users with a model state in this process", registry=r)
        self.model = Gauge("hydrarec_model_info", "the model answering requests (value 1)", ["version"], registry=r)
        self.swaps = Counter("hydrarec_model_swaps", "model swaps by result", ["result"], registry=r)

    def set_model(self, version):
        self.model.clear()
        self.model.labels(version).set(1)

    def text(self):
        return generate_latest(self.registry)
