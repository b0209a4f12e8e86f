"""Metric names used by the PromQL of the dashboard, the alert rules and their tests.

A small lexical extraction, enough for the expressions we ship (and pinned by
``test_promql_names.py``): string literals, label matchers ``{...}``, range and
subquery brackets ``[...]``, Grafana variables and grouping clauses
(``by (...)``, ``on (...)``, ...) are removed; what is left that looks like an
identifier, is not followed by ``(`` (a function or an aggregation) and is not a
keyword is a metric name, exactly as written (``..._total``, ``..._bucket``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|\w+)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.*),\s*\w+\s*\)\s*$", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """Metric names in one PromQL expression (``__name__`` matchers are not supported)."""
    if "__name__" in expr:
        raise ValueError(f"selecting by __name__ defeats the name check: {expr}")
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def grafana_query_expr(query: str) -> str | None:
    """The PromQL inside a Grafana Prometheus variable query (``label_values(expr, label)``)."""
    match = _LABEL_VALUES.match(query)
    if match:
        return match.group("expr")
    if query.strip().startswith(("label_values(", "label_names(", "metrics(")):
        return None  # label_values(label) and friends name no metric
    return query


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets (rows included) and variables."""
    exprs = [target["expr"] for target in _targets(dashboard.get("panels", []))]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        inner = grafana_query_expr(text)
        if inner:
            exprs.append(inner)
    return exprs


def _targets(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield from (t for t in panel.get("targets", []) if "expr" in t)
        yield from _targets(panel.get("panels", []))


def rule_exprs(rules_document: dict[str, Any]) -> list[str]:
    """Every ``expr`` of a Prometheus rule file."""
    return [rule["expr"] for group in rules_document["groups"] for rule in group["rules"]]


def input_series_exprs(tests_document: dict[str, Any]) -> list[str]:
    """The input series of a ``promtool test rules`` file (``name{labels}``)."""
    return [
        series["series"]
        for case in tests_document.get("tests", [])
        for series in case.get("input_series", [])
    ]


def allowed_sample_names(families: list[tuple[str, str]]) -> set[str]:
    """Sample names a scrape can contain for (family name, type) pairs, as parsed by
    ``prometheus_client.parser`` (which drops a counter's ``_total`` from its family name)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
        "stateset": ("",),
        "unknown": ("",),
    }
    return {name + suffix for name, kind in families for suffix in suffixes[kind]}
