"""Prometheus metrics. With several workers, set PROMETHEUS_MULTIPROC_DIR (the CLI does) so
`/metrics` on any worker sums them all.

    larder_request_seconds{endpoint}                request latency histogram
    larder_requests_failed_total{endpoint,status}   4xx and 5xx answers
    larder_predictions_total{model_version}         predictions made
    larder_feature_status_total{view,status}        feature values served, by status
    larder_feature_age_seconds{view}                per read, the oldest value served
    larder_unseen_categories_total{input}           categories the model never saw, answered
                                                    as missing
"""

import os
from functools import cache

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
    "larder_request_seconds", "Request latency", ["endpoint"], buckets=LATENCY_BUCKETS
)
FAILED = Counter("larder_requests_failed", "Answers with status >= 400", ["endpoint", "status"])
PREDICTIONS = Counter("larder_predictions", "Predictions made", ["model_version"])
FEATURE_STATUS = Counter("larder_feature_status", "Feature values served", ["view", "status"])
FEATURE_AGE = Histogram(
    "larder_feature_age_seconds", "Oldest value served per read", ["view"], buckets=AGE_BUCKETS
)
UNSEEN = Counter(
    "larder_unseen_categories",
    "Categories the model never saw in training, answered as missing values",
    ["input"],
)


def observe_answer(answer: Answer) -> None:
    counts: dict[tuple[str, str], int] = {}
    for column in answer.columns:
        statuses = column.statuses
        for status in set(statuses):
            key = (column.view, status)
            counts[key] = counts.get(key, 0) + statuses.count(status)
    for (view, status), n in counts.items():
        feature_status(view, status).inc(n)
    for view, age in answer.ages.items():
        feature_age(view).observe(max(age, 0.0))


# `labels()` checks and locks on every call; the children it returns never change, so each
# label set is looked up once per process.
@cache
def request_seconds(endpoint: str) -> Histogram:
    return REQUEST_SECONDS.labels(endpoint)


@cache
def feature_status(view: str, status: str) -> Counter:
    return FEATURE_STATUS.labels(view, status)


@cache
def feature_age(view: str) -> Histogram:
    return FEATURE_AGE.labels(view)


@cache
def unseen_category(name: str) -> Counter:
    return UNSEEN.labels(name)


@cache
def predictions_made(model_version: str) -> Counter:
    return PREDICTIONS.labels(model_version)


def exposition() -> tuple[bytes, str]:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
