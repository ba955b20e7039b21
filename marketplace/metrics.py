"""Prometheus metrics (prometheus-client): what the tool counts and times, for `/metrics`.

One `Metrics` per process, made on first use (nothing is registered at import). Under several workers
(`marketplace serve --workers N`) each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR, which
`serve` sets before the workers start, and a scrape of any worker adds up all of them; prometheus-client
decides that mode when it is first imported, which is why it is imported lazily here.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


class Metrics:
    """The process's metric objects."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        # In multiprocess mode values live in files and are collected per scrape; registering them here too
        # would count them twice.
        self.registry: CollectorRegistry | None = None if multiprocess_mode() else CollectorRegistry()
        registry = self.registry
        self.request_seconds: Histogram = Histogram(
            "marketplace_http_request_duration_seconds", "HTTP request latency by route template",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=registry)
        self.launches: Counter = Counter(
            "marketplace_launches", "LTI launches by outcome (accepted, refused) and refusal reason",
            ["outcome", "reason"], registry=registry)
        self.search_seconds: Histogram = Histogram(
            "marketplace_search_duration_seconds", "Catalog search latency (query, facets and highlights)",
            buckets=LATENCY_BUCKETS, registry=registry)
        self.platform_calls: Counter = Counter(
            "marketplace_platform_calls", "Calls to platforms by service (ags, nrps, token, jwks) and HTTP status",
            ["service", "status"], registry=registry)
        self.index_compactions: Counter = Counter(
            "marketplace_index_compactions", "Background compactions of this host's search index by outcome "
            "(compacted, failed)", ["outcome"], registry=registry)


def prepare_multiprocess_metrics(data_dir: Path) -> Path:
    """Before starting several workers: an empty folder for their metric files, named in the environment
    the workers inherit (files of an earlier run would add its counts to this one's)."""
    folder = data_dir / "metrics"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(folder)
    return folder


_metrics: Metrics | None = None
_lock = threading.Lock()


def metrics() -> Metrics:
    """The process's metrics, made on first use."""
    global _metrics  # noqa: PLW0603 - one set per process is what Prometheus expects
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def count_platform_call(service: str, status: int | None) -> None:
    """One call to a platform's service; `status` None when no HTTP answer came (timeout, refused)."""
    metrics().platform_calls.labels(service, str(status) if status is not None else "no_answer").inc()


def exposition(gauges: Mapping[str, Mapping[str, float]]) -> tuple[bytes, str]:
    """The text a scrape returns, and its content type: this process's (or every worker's) metrics, plus
    `gauges` read at scrape time ({metric name: {label value of `state`: value}}, e.g. grade jobs by state)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client.registry import Collector

    class ScrapeTimeGauges(Collector):
        def collect(self) -> list[GaugeMetricFamily]:
            families = []
            for name, values in gauges.items():
                family = GaugeMetricFamily(name, f"{name} at scrape time", labels=["state"])
                for state, value in sorted(values.items()):
                    family.add_metric([state], value)
                families.append(family)
            return families

    process = metrics()
    scrape = CollectorRegistry()
    scrape.register(ScrapeTimeGauges())
    if process.registry is None:
        MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        return generate_latest(scrape), CONTENT_TYPE_LATEST
    return generate_latest(process.registry) + generate_latest(scrape), CONTENT_TYPE_LATEST
