"""One progress bar for the whole run, on rank 0 only.

Every rank writes how many of its images are done to its progress file after each batch
(:meth:`~captum_igos.runs.store.ResultStore.write_progress`); rank 0 sums the files
into one ``tqdm`` bar (images, rate, time left) after each of its own batches and while
it waits for the other ranks. Polling files needs no collective call, so ranks with
shares of different lengths never wait on each other. The files also carry each rank's
peak memory (:func:`rank_usage`), which ``summary.json`` lists per rank.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from captum_igos.runs.store import ResultStore

__all__ = ["RunProgress", "rank_usage"]


def rank_usage(device: str) -> dict[str, float]:
    """This process's peak memory so far, in MiB.

    ``peak_rss_mib``: the resident set's high-water mark (``getrusage`` ``ru_maxrss``,
    KiB on Linux, bytes on macOS; left out where there is no ``resource`` module);
    ``peak_cuda_mib`` as well on a CUDA device (the allocator's ``max_memory_allocated``).
    """
    usage: dict[str, float] = {}
    try:
        import resource
    except ImportError:  # Windows: no getrusage
        pass
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        usage["peak_rss_mib"] = round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)
    if device.startswith("cuda"):
        usage["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return usage


class RunProgress:
    """The bar of rank 0 (a no-op on other ranks or when ``quiet``)."""

    def __init__(self, store: ResultStore, total: int, world_size: int, *, enabled: bool) -> None:
        self.store, self.world_size = store, world_size
        self.bar: Any = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="image", file=sys.stderr, dynamic_ncols=True,
                            desc=f"{world_size} rank{'s' if world_size > 1 else ''}")

    def refresh(self) -> None:
        """Move the bar to the images all ranks have finished."""
        if self.bar is not None:
            done = min(self.store.images_done(self.world_size), self.bar.total)
            if done > self.bar.n:
                self.bar.update(done - self.bar.n)

    def write(self, message: str) -> None:
        """Print a line without breaking the bar."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.refresh()
            self.bar.close()
