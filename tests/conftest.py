"""Shared fixtures: devices and dtypes with tolerances per dtype."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Callable

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


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.fixture
def claimed_png() -> Callable[[Path, int, int], Path]:
    """Write a tiny (about 70-byte) RGB PNG whose header claims ``width`` x ``height`` pixels.

    Its one IDAT chunk holds a few bytes only: a decompression bomb's header, which a
    reader must refuse from the header alone, before it decodes (or allocates) anything.
    """

    def write(path: Path, width: int, height: int) -> Path:
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                         + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                         + _png_chunk(b"IEND", b""))
        return path

    return write
