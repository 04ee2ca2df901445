"""Prometheus metrics. With several workers, set PROMETHEUS_MULTIPROC_DIR (the CLI does) so
`/metrics` on any worker sums them all.

    flights_request_seconds{endpoint}                request latency histogram
    flights_requests_failed_total{endpoint,status}   4xx and 5xx answers
    flights_predictions_total{model_version}         predictions made
    flights_feature_status_total{view,status}        feature values served, by status
    flights_feature_age_seconds{view}                per read, the oldest value served
"""

import os
from collections import Counter as Counter_

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from serving.online import Answer

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)
AGE_BUCKETS = (60, 600, 3600, 3 * 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400)

REQUEST_SECONDS = Histogram(
    "flights_request_seconds", "Request latency", ["endpoint"], buckets=LATENCY_BUCKETS
)
FAILED = Counter("flights_requests_failed", "Answers with status >= 400", ["endpoint", "status"])
PREDICTIONS = Counter("flights_predictions", "Predictions made", ["model_version"])
FEATURE_STATUS = Counter("flights_feature_status", "Feature values served", ["view", "status"])
FEATURE_AGE = Histogram(
    "flights_feature_age_seconds", "Oldest value served per read", ["view"], buckets=AGE_BUCKETS
)


def observe_answer(answer: Answer) -> None:
    counts: Counter_[tuple[str, str]] = Counter_()
    for column in answer.columns:
        for status, n in Counter_(column.statuses).items():
            counts[column.view, status] += n
    for (view, status), n in counts.items():
        FEATURE_STATUS.labels(view, status).inc(n)
    for view, age in answer.ages.items():
        FEATURE_AGE.labels(view).observe(max(age, 0.0))


def exposition() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
