"""Interleaved measurement: variants run A B A B ... so machine noise hits them alike."""

from __future__ import annotations

import gc
import statistics
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    name: str
    unit: str
    median: float
    p25: float
    p75: float
    minimum: float
    maximum: float
    rounds: int
    ratio_to_baseline: float | None = None
    delta_to_baseline: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summarise(name: str, unit: str, samples: list[float]) -> Summary:
    ordered = sorted(samples)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return Summary(
        name=name,
        unit=unit,
        median=statistics.median(ordered),
        p25=quartiles[0],
        p75=quartiles[2],
        minimum=ordered[0],
        maximum=ordered[-1],
        rounds=len(ordered),
    )


def interleaved(
    variants: Mapping[str, Callable[[], float]],
    *,
    rounds: int,
    warmup: int = 1,
    unit: str,
    baseline: str | None = None,
) -> list[Summary]:
    """Run every variant once per round, in turn, after ``warmup`` unrecorded rounds.

    Each callable returns one sample (e.g. microseconds per request over a batch). The ratio and
    the difference to ``baseline`` are computed on medians.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for round_no in range(warmup + rounds):
        for name, run in variants.items():
            gc.collect()
            value = run()
            if round_no >= warmup:
                samples[name].append(value)
    summaries = [summarise(name, unit, values) for name, values in samples.items()]
    if baseline is not None:
        base = next(s for s in summaries if s.name == baseline).median
        summaries = [
            Summary(
                **{
                    **s.as_dict(),
                    "ratio_to_baseline": s.median / base if base else None,
                    "delta_to_baseline": s.median - base,
                }
            )  # type: ignore[arg-type]
            for s in summaries
        ]
    return summaries
