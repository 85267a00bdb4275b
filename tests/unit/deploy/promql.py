"""The metric names and label names a PromQL query uses, and the series the engine exports.

The reader covers the PromQL of our dashboard (selectors with matchers, functions,
aggregations with ``by``/``without``, ranges, numbers); ``promtool check rules`` is what says
the queries parse. Grafana's variables are replaced by values of the right shape first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from events.metrics import Metrics

#: Grafana variables of the dashboard, and a value PromQL accepts in their place.
GRAFANA_VARIABLES: Final = {
    "$__rate_interval": "40s",
    "$__interval": "10s",
    "$__range": "1h",
    "$instance": ".*",
}
#: Labels Prometheus attaches to every scraped series (scrape_configs, target labels).
TARGET_LABELS: Final = frozenset({"instance", "job"})

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"(?P<name>{_NAME})?\s*\{{(?P<body>[^}}]*)\}}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_TOKEN = re.compile(rf"(?<![\w.\"]){_NAME}(?P<call>\s*\()?")
_KEYWORDS: Final = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})

# prometheus_client names the series of each metric type like this (a counter's name is
# stored without its _total).
_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "enum": ("",),
}


@dataclass(frozen=True)
class Selector:
    """A metric a query reads, and the labels its matchers name."""

    metric: str
    labels: frozenset[str] = frozenset()


def with_grafana_variables(expr: str) -> str:
    """``expr`` with Grafana's variables replaced (longest names first).

    >>> with_grafana_variables('rate(x{instance=~"$instance"}[$__rate_interval])')
    'rate(x{instance=~".*"}[40s])'
    """
    for name in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VARIABLES[name])
    return expr


def selectors(expr: str) -> list[Selector]:
    """The metrics ``expr`` reads, each with the labels its matchers name.

    >>> found = selectors('sum by (le) (rate(a_bucket{op="x", le!=""}[5m])) / on (job) b')
    >>> [(selector.metric, sorted(selector.labels)) for selector in found]
    [('a_bucket', ['le', 'op']), ('b', [])]
    """
    expr = with_grafana_variables(expr)
    found: list[tuple[int, Selector]] = []

    def braced(match: re.Match[str]) -> str:
        labels = frozenset(_MATCHER.findall(match["body"]))
        if match["name"]:
            found.append((match.start(), Selector(match["name"], labels)))
        return " " * len(match[0])  # keep offsets, so the order of appearance survives

    expr = _SELECTOR.sub(braced, expr)
    expr = _GROUPING.sub(lambda m: " " * len(m[0]), expr)
    expr = _RANGE.sub(lambda m: " " * len(m[0]), expr)
    for match in _TOKEN.finditer(expr):
        word = match[0].rstrip("( \t")
        if not match["call"] and word.lower() not in _KEYWORDS and word not in ("by", "without"):
            found.append((match.start(), Selector(word)))
    return [selector for _, selector in sorted(found, key=lambda pair: pair[0])]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in ``by``, ``without``, ``on``, ``ignoring`` and ``group_*`` clauses.

    >>> sorted(grouping_labels("sum by (le, op) (x) / ignoring(code) y"))
    ['code', 'le', 'op']
    """
    return {
        label.strip()
        for clause in _GROUPING.findall(expr)
        for label in clause.split(",")
        if label.strip()
    }


def engine_series() -> dict[str, frozenset[str]]:
    """Every series name the engine exports, with its label names.

    Built from :class:`events.metrics.Metrics` on a fresh registry, plus the process and
    platform and GC collectors prometheus_client registers by default (``process_*``,
    ``python_*``).
    Label names come from ``_labelnames``: prometheus_client has no public accessor for them
    before a labelled child exists.
    """
    series: dict[str, frozenset[str]] = {}
    metrics = Metrics(CollectorRegistry())
    for wrapper in vars(metrics).values():
        if not isinstance(wrapper, MetricWrapperBase):
            continue
        labels = frozenset(wrapper._labelnames)
        for suffix in _SUFFIXES[str(wrapper._type)]:
            extra = {"le"} if suffix == "_bucket" else set()
            series[wrapper._name + suffix] = labels | extra
    defaults = CollectorRegistry()
    ProcessCollector(registry=defaults)
    PlatformCollector(registry=defaults)
    GCCollector(registry=defaults)
    for family in defaults.collect():
        for sample in family.samples:
            series[sample.name] = series.get(sample.name, frozenset()) | frozenset(sample.labels)
    return series
