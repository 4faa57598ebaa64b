"""Faithfulness metrics for attribution maps: deletion/insertion curves and the pointing game."""

from captum_igos.metrics.deletion_insertion import (
    DeletionInsertionResult,
    ImageDeletionInsertion,
    deletion_insertion,
)

__all__ = ["DeletionInsertionResult", "ImageDeletionInsertion", "deletion_insertion"]
