"""Shared helpers for the benchmarks: timing, memory in a subprocess, machine facts, tables.

Nothing here knows about stations; every benchmark script in this folder may use it.
Timings use :func:`time.perf_counter_ns`. Because the benchmark machines are shared
and noisy, single-call timings are repeated in rounds (methods interleaved within a
round) and summarised as the median of the per-round statistics.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import numpy as np

# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class CallStats:
    """Per-call latency of one method, summarised over rounds (nanoseconds)."""

    round_p50: tuple[float, ...]
    round_p99: tuple[float, ...]
    calls_per_round: int

    @property
    def p50_ns(self) -> float:
        """Median of the per-round medians."""
        return float(np.median(self.round_p50))

    @property
    def p99_ns(self) -> float:
        """Median of the per-round 99th percentiles."""
        return float(np.median(self.round_p99))


def time_each(fn: Callable[..., Any], args: Sequence[tuple]) -> np.ndarray:
    """Call ``fn(*a)`` for every ``a`` in ``args``; the duration of each call in ns."""
    out = np.empty(len(args), dtype=np.int64)
    clock = time.perf_counter_ns
    for j, a in enumerate(args):
        t0 = clock()
        fn(*a)
        out[j] = clock() - t0
    return out


def time_rounds(fns: dict[str, Callable[..., Any]], args: Sequence[tuple], *, rounds: int = 5,
                warmup: int = 200) -> dict[str, CallStats]:
    """Single-call latency of several functions over the same arguments.

    Every function is warmed up on the first ``warmup`` arguments, then each round
    times every function once over all ``args``; the functions are interleaved within
    a round so that a noisy minute hurts all of them alike.
    """
    for fn in fns.values():
        for a in args[:warmup]:
            fn(*a)
    p50: dict[str, list[float]] = {name: [] for name in fns}
    p99: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            gc.collect()
            ns = time_each(fn, args)
            p50[name].append(float(np.percentile(ns, 50)))
            p99[name].append(float(np.percentile(ns, 99)))
    return {name: CallStats(tuple(p50[name]), tuple(p99[name]), len(args)) for name in fns}


def best_of(fn: Callable[[], Any], *, repeat: int = 3) -> tuple[float, Any]:
    """Median wall time in seconds of ``repeat`` calls of ``fn()``, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time in seconds of one call of ``fn()``, and its result."""
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def percentiles_us(ns: Iterable[float], qs: Sequence[float] = (50, 99)) -> list[float]:
    """Percentiles of nanosecond samples, in microseconds."""
    arr = np.asarray(list(ns), dtype=np.float64)
    return [float(v) / 1000.0 for v in np.percentile(arr, qs)]


# ------------------------------------------------------------------ memory


def rss_bytes() -> int:
    """Resident set size of this process (needs psutil, the ``bench`` extra)."""
    try:
        import psutil
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("memory measurement needs psutil: pip install 'station-locator[bench]'"
                         ) from exc
    return int(psutil.Process().memory_info().rss)


#: glibc malloc otherwise raises its mmap threshold after the first large free, so
#: later large arrays reuse heap that was freed but never returned to the OS and
#: RSS deltas come out too small. A fixed threshold keeps every large block mmapped.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def peak_rss_bytes() -> int:
    """High-water RSS of this process (``VmHWM``; ``ru_maxrss`` elsewhere).

    Linux keeps ``ru_maxrss`` across ``exec``, so in a child started from a big
    parent it reports the parent's peak; ``VmHWM`` belongs to the new image only.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_child(argv: Sequence[str], *, timeout: float = 600.0) -> dict[str, Any]:
    """Run ``python argv...`` in a fresh interpreter and parse the JSON on its last stdout line.

    Used for memory measurements: each build happens in a process that has done
    nothing else, so earlier allocations cannot hide or inflate it.
    """
    env = {**os.environ, **MALLOC_ENV}
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return json.loads(lines[-1])


# ------------------------------------------------------------------ machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(packages: Sequence[str]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def machine_lines(packages: Sequence[str]) -> list[str]:
    """Markdown bullet lines describing when and where a benchmark ran."""
    now = datetime.now(timezone.utc).astimezone()
    vers = ", ".join(f"{k} {v}" for k, v in versions(packages).items())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"- Date: {now:%Y-%m-%d %H:%M %Z}",
        f"- Machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{cpu_model()}, {platform.system()} {platform.release()}",
        f"- Load average at the end of the run: {load}",
        f"- Versions: {vers}",
    ]


# ------------------------------------------------------------------ output


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` is one of ``l``/``r`` per column."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]
    align = align or "l" * len(headers)

    def fmt(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if a == "r" else c.ljust(w)
                 for c, w, a in zip(cells, widths, align, strict=True)]
        return "| " + " | ".join(parts) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                          for w, a in zip(widths, align, strict=True)) + "|"
    return "\n".join([fmt(headers), rule, *(fmt(r) for r in rows)])


def fmt_ratio(x: float) -> str:
    """A ratio such as ``1.23×``; two significant digits below 0.1."""
    if not np.isfinite(x):
        return "—"
    return f"{x:.2f}×" if x >= 0.1 else f"{x:.2g}×"


def fmt_num(x: float | None, digits: int = 3) -> str:
    """Compact human number: 3 significant digits, thousands separators, ``—`` for None."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"
