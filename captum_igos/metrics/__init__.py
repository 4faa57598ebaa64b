"""Faithfulness metrics for attribution maps: deletion/insertion curves and the pointing game."""

from captum_igos.metrics.deletion_insertion import (
    DeletionInsertionResult,
    ImageDeletionInsertion,
    deletion_insertion,
)
from captum_igos.metrics.pointing_game import boxes_to_masks, pointing_game

__all__ = [
    "DeletionInsertionResult",
    "ImageDeletionInsertion",
    "boxes_to_masks",
    "deletion_insertion",
    "pointing_game",
]
