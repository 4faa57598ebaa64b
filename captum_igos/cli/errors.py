"""The command's name, the first word of every message it prints."""

from __future__ import annotations

__all__ = ["PROG"]

PROG = "captum-igos"
