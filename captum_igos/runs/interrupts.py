"""Ctrl-C held back while a result is committed, so an interrupt never splits one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["held_interrupts"]


@contextmanager
def held_interrupts(reraise: bool = True) -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, then raise ``KeyboardInterrupt``.

    The run engine commits each result inside this block (its picture, its map, then its
    record), so an interrupt lands before or after a result, never inside. The command
    line also imports PyTorch and torchvision inside it: a ``KeyboardInterrupt`` raised while
    their C++ start-up code calls back into Python ends in ``std::terminate`` (the process
    aborts with SIGABRT and a C++ message) or sets CPython's "unhandled interrupt" flag
    (the process then kills itself with SIGINT after our message); held, the interrupt is
    raised once the import is complete, a second or two later. An
    interrupt held during a block that raises wins over the block's exception. With
    ``reraise=False`` an interrupt during the block is dropped (used while the command
    reports the first one). Where the previous handler ignored SIGINT, the held one is
    ignored too. Outside the main thread, where Python delivers no signals, the block runs
    unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[Any, Any]] = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received and reraise:
            if callable(previous):  # Python's default handler raises KeyboardInterrupt
                previous(*received[0])
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt
