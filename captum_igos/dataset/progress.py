"""One progress bar for the whole dataset, on rank 0 only.

Every rank writes how many of its images are done to its progress file after each batch
(:meth:`~captum_igos.dataset.store.ResultStore.write_progress`); rank 0 sums the files
into one ``tqdm`` bar (images, rate, time left) after each of its own batches and while
it waits for the other ranks. Polling files needs no collective call, so ranks with
shares of different lengths never wait on each other.
"""

from __future__ import annotations

import sys
from typing import Any

from captum_igos.dataset.store import ResultStore

__all__ = ["DatasetProgress"]


class DatasetProgress:
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
