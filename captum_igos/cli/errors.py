"""The command line's one error type and its name in messages."""

from __future__ import annotations

__all__ = ["PROG", "CLIError"]

#: The command's name, the first word of every message it prints.
PROG = "captum-igos"


class CLIError(Exception):
    """A problem reported as one line on stderr (no traceback)."""
