"""Shared fixtures: devices and dtypes with tolerances per dtype."""

from __future__ import annotations

import pytest
import torch

CUDA_SKIP_REASON = (
    "needs a CUDA device; none is visible on this machine (torch.cuda.is_available() is False)"
)

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_SKIP_REASON),
        ],
    ),
]

#: (rtol, atol) per dtype for comparisons between two computations of the same quantity.
TOLERANCES = {torch.float64: (1e-9, 1e-6), torch.float32: (1e-4, 1e-5)}


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request) -> torch.dtype:
    return request.param


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
