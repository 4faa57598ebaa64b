"""Shared timing and peak-memory helpers for the benchmarks.

Two calls, both generic:

- :func:`time_call` times a callable (warm-up runs, then repeats) and returns every
  repeat's seconds; CUDA work is synchronised before the clock is read.
- :func:`peak_memory` measures how much memory one run of ``work(state)`` needs on top of
  what ``setup()`` already holds. On CUDA it is ``torch.cuda.max_memory_allocated`` growth
  over the allocation after setup. On CPU the work runs in a fresh ``spawn`` subprocess
  (so earlier runs and other benchmarks do not pollute the high-water mark) and the result
  is the growth of the RSS high-water mark (``ru_maxrss``; on Linux its per-process form
  ``VmHWM``, reset after setup) over the resident set size right after setup.

``setup`` and ``work`` must be picklable (module-level functions, or
:func:`functools.partial` of them) because the CPU measurement runs them in a child
process. A benchmark script that defines them must guard its entry point with
``if __name__ == "__main__":``.

Example::

    from benchmarks._measure import peak_memory, time_call

    timing = time_call(lambda: model(x), warmup=1, repeats=3)
    print(timing.best, timing.median)
    print(format_bytes(peak_memory(make_model_and_input, run_model, device="cpu")))
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Callable

import torch

__all__ = ["Timing", "format_bytes", "peak_memory", "time_call"]


@dataclass(frozen=True)
class Timing:
    """Seconds of each timed repeat (warm-up runs excluded)."""

    seconds: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _synchronize(device: str | torch.device | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], Any],
    *,
    warmup: int = 1,
    repeats: int = 3,
    device: str | torch.device | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Run ``fn()`` ``warmup`` times untimed, then ``repeats`` times timed.

    Args:
        fn: the work to time, called with no arguments.
        warmup: untimed runs first (allocator, kernel selection, caches).
        repeats: timed runs, at least 1.
        device: when a CUDA device, the device is synchronised before each clock read.
        clock: wall clock by default; ``time.process_time`` (CPU seconds of all threads)
            is steadier on a machine shared with other work.

    Returns:
        :class:`Timing` with one duration per repeat, in ``clock`` seconds.
    """
    if repeats < 1:
        raise ValueError(f"expected repeats >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    _synchronize(device)
    seconds = []
    for _ in range(repeats):
        start = clock()
        fn()
        _synchronize(device)
        seconds.append(clock() - start)
    return Timing(tuple(seconds))


def _current_rss_bytes() -> int:
    """Resident set size now (Linux ``/proc/self/statm``), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _max_rss_bytes()


def _reset_peak_rss() -> bool:
    """Reset this process's high-water mark to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _max_rss_bytes() -> int:
    """This process's RSS high-water mark.

    Linux: ``VmHWM`` of ``/proc/self/status``, the same mark as ``ru_maxrss`` but of this
    address space only: ``ru_maxrss`` of a ``spawn`` child starts at the parent's peak
    (the kernel carries it across fork and exec), which would hide the work's own peak.
    Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _cpu_peak_in_child(setup: Callable[[], Any], work: Callable[[Any], Any], threads: int) -> int:
    torch.set_num_threads(threads)
    state = setup()
    gc.collect()
    _reset_peak_rss()  # setup's own transient peak does not count where this works
    after_setup = _current_rss_bytes()
    work(state)
    return max(0, _max_rss_bytes() - after_setup)


def peak_memory(
    setup: Callable[[], Any],
    work: Callable[[Any], Any],
    *,
    device: str | torch.device = "cpu",
) -> int:
    """Peak bytes that ``work(setup())`` needs beyond what ``setup()`` left allocated.

    Args:
        setup: builds the state (model, inputs); its memory is not counted.
        work: the measured call, given the state.
        device: ``"cpu"`` runs both in a fresh ``spawn`` subprocess with the parent's torch
            thread count; a CUDA device runs them here and reads the CUDA allocator's peak.

    Returns:
        Bytes. On CPU this is the growth of the child's RSS high-water mark over its
        resident size after setup, so it includes allocator overhead. On Linux the mark
        is ``VmHWM``, reset after setup; elsewhere ``ru_maxrss``, where a setup peak above
        the work's would be reported instead.
    """
    device = torch.device(device)
    if device.type == "cuda":
        state = setup()
        gc.collect()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        after_setup = torch.cuda.memory_allocated(device)
        work(state)
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - after_setup)
    if device.type != "cpu":
        raise ValueError(f"expected device 'cpu' or a CUDA device, got {device}")
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_cpu_peak_in_child, setup, work, torch.get_num_threads()).result()


def format_bytes(count: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
