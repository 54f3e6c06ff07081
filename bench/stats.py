"""Percentiles and small summaries (milliseconds, rounded for reports)."""
from __future__ import annotations

import math
from typing import Iterable


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float | None, digits: int = 2) -> float | None:
    return None if seconds is None else round(seconds * 1000, digits)


def summary_ms(latencies: Iterable[float]) -> dict:
    values = list(latencies)
    return {
        "n": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(max(values) if values else None),
    }


def ratio(value: float | None, ceiling: float | None, digits: int = 2) -> float | None:
    if value is None or not ceiling:
        return None
    return round(value / ceiling, digits)
