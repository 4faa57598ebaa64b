"""The command line's one error type."""

from __future__ import annotations

__all__ = ["CLIError"]


class CLIError(Exception):
    """A problem reported as one line on stderr (no traceback)."""
