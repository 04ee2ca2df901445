"""Prometheus metrics. With several workers, set PROMETHEUS_MULTIPROC_DIR (the CLI does) so
`/metrics` on any worker sums them all.

    larder_request_seconds{endpoint}                request latency histogram
    larder_requests_failed_total{endpoint,status}   4xx and 5xx answers
    larder_predictions_total{model_version}         predictions made
    larder_feature_status_total{view,status}        feature values served, by status
    larder_feature_age_seconds{view}                the oldest value served in the last
                                                    interval (the largest over the workers)
    larder_unseen_categories_total{input}           categories the model never saw, answered
                                                    as missing
    larder_model_served{model,version}              1 for the version a worker serves (with
                                                    several workers, one sample per worker, by
                                                    `pid`): a promotion shows reaching each
"""

import os
import threading
from functools import cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from serving.online import Answer

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)
FLUSH_S = 1.0  # how often a worker adds what it served to the metrics (serving/app.py)

REQUEST_SECONDS = Histogram(
    "larder_request_seconds", "Request latency", ["endpoint"], buckets=LATENCY_BUCKETS
)
FAILED = Counter("larder_requests_failed", "Answers with status >= 400", ["endpoint", "status"])
PREDICTIONS = Counter("larder_predictions", "Predictions made", ["model_version"])
FEATURE_STATUS = Counter("larder_feature_status", "Feature values served", ["view", "status"])
FEATURE_AGE = Gauge(
    "larder_feature_age_seconds",
    "Oldest value served in the last interval",
    ["view"],
    multiprocess_mode="livemax",
)
MODEL_SERVED = Gauge(
    "larder_model_served",
    "1 for the model version this worker serves, 0 for one it served before",
    ["model", "version"],
    multiprocess_mode="liveall",
)
UNSEEN = Counter(
    "larder_unseen_categories",
    "Categories the model never saw in training, answered as missing values",
    ["input"],
)


class Served:
    """What a worker's reads served since the last flush: value counts by (view, status), and
    the oldest age per view. A read adds to plain dicts (Prometheus' own counters cost a few
    microseconds per call, and a read answers dozens of features); `flush` adds them to the
    metrics, every FLUSH_S and before `/metrics` answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._ages: dict[str, float] = {}

    def add(self, answer: Answer) -> None:
        counts: dict[tuple[str, str], int] = {}
        for column in answer.columns:
            statuses = column.statuses
            if len(statuses) == 1:  # a one-entity read: most of them
                key = (column.view, statuses[0])
                counts[key] = counts.get(key, 0) + 1
                continue
            for status in set(statuses):
                key = (column.view, status)
                counts[key] = counts.get(key, 0) + statuses.count(status)
        with self._lock:
            total = self._counts
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
            ages = self._ages
            for view, age in answer.ages.items():
                age = max(age, 0.0)  # a value stamped after the read's time is fresh
                if age >= ages.get(view, -1.0):
                    ages[view] = age

    def flush(self) -> None:
        # Under the lock: two flushes at once (a worker's timer and `/metrics`) must not set an
        # age gauge out of order, an older interval's age over a newer one.
        with self._lock:
            counts, self._counts = self._counts, {}
            ages, self._ages = self._ages, {}
            for (view, status), n in counts.items():
                feature_status(view, status).inc(n)
            for view, age in ages.items():
                feature_age(view).set(age)


SERVED = Served()


def observe_answer(answer: Answer) -> None:
    SERVED.add(answer)


# `labels()` checks and locks on every call; the children it returns never change, so each
# label set is looked up once per process.
@cache
def request_seconds(endpoint: str) -> Histogram:
    return REQUEST_SECONDS.labels(endpoint)


@cache
def feature_status(view: str, status: str) -> Counter:
    return FEATURE_STATUS.labels(view, status)


@cache
def feature_age(view: str) -> Gauge:
    return FEATURE_AGE.labels(view)


@cache
def unseen_category(name: str) -> Counter:
    return UNSEEN.labels(name)


@cache
def predictions_made(model_version: str) -> Counter:
    return PREDICTIONS.labels(model_version)


def model_served(model: str, version: str, previous: str | None = None) -> None:
    """Called when a worker starts serving `version` (at startup, and on each reload)."""
    if previous is not None and previous != version:
        MODEL_SERVED.labels(model, previous).set(0)
    MODEL_SERVED.labels(model, version).set(1)


def exposition() -> tuple[bytes, str]:
    SERVED.flush()  # this worker's figures are current; the others' at most FLUSH_S old
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
