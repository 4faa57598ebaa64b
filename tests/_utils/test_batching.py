"""The one chunker, the rows-per-pass defaults and per-row selection."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from captum_igos import LayerRSIGradCam
from captum_igos._utils.batching import (
    ACCELERATOR_ROWS_PER_PASS,
    CPU_ROWS_PER_PASS,
    chunk_ranges,
    path_points_per_pass,
    rows_additional_args,
    rows_per_pass,
    rows_target,
    warn_caller,
)
from captum_igos.metrics import deletion_insertion

CPU = torch.device("cpu")


def test_plain_chunks_cover_every_item_once():
    assert list(chunk_ranges(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(chunk_ranges(7, 100)) == [(0, 7)]
    assert list(chunk_ranges(0, 3)) == []
    for total in range(1, 12):
        for size in range(1, 6):
            ranges = list(chunk_ranges(total, size))
            covered = [i for start, stop in ranges for i in range(start, stop)]
            assert covered == list(range(total))
            assert all(stop - start <= size for start, stop in ranges)
    with pytest.raises(ValueError, match="expected size >= 1"):
        list(chunk_ranges(4, 0))


def test_chunks_with_endpoint_share_one_point_and_hold_each_interval_once():
    assert list(chunk_ranges(6, 3, include_endpoint=True)) == [(0, 3), (2, 5), (4, 6)]
    assert list(chunk_ranges(7, 4, include_endpoint=True, stride=2)) == [(0, 3), (2, 5), (4, 7)]
    assert list(chunk_ranges(5, 100, include_endpoint=True)) == [(0, 5)]
    assert list(chunk_ranges(3, 1, include_endpoint=True)) == [(0, 2), (1, 3)]  # raised to 2
    for intervals in range(1, 9):
        for stride in (1, 2):
            for size in range(1, 7):
                ranges = list(chunk_ranges(intervals * stride + 1, size, include_endpoint=True,
                                           stride=stride))
                held = [m for start, stop in ranges for m in range(start // stride,
                                                                    (stop - 1) // stride)]
                assert held == list(range(intervals))  # every interval in exactly one chunk
                assert all(b[0] == a[1] - 1 for a, b in zip(ranges, ranges[1:]))


def test_none_means_the_device_default_everywhere():
    assert rows_per_pass(None, CPU) == CPU_ROWS_PER_PASS == 8
    assert rows_per_pass(None, torch.device("cuda")) == ACCELERATOR_ROWS_PER_PASS == 64
    assert rows_per_pass(5, CPU) == 5
    # overlapping path chunks: 8 new rows per chunk, plus the carried point
    assert path_points_per_pass(None, 2, 51, 2, CPU) == 1 + 4
    assert path_points_per_pass(None, 16, 51, 2, CPU) == 2
    assert path_points_per_pass(12, 3, 51, 2, CPU) == 4
    assert path_points_per_pass(None, 1, 4, 2, CPU) == 4  # capped at the path's points


def test_the_metric_and_the_methods_send_default_sized_passes():
    sizes: list[int] = []
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 36, 3))
    model.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    x = torch.rand(3, 3, 6, 6)
    deletion_insertion(model, x, torch.rand(3, 1, 6, 6), target=0, n_steps=5)
    assert max(sizes) == CPU_ROWS_PER_PASS and sum(sizes) == 3 * 2 * 5
    del sizes[:]
    LayerRSIGradCam(model, model[0]).attribute(x, target=0, n_steps=6)
    # 1 + ceil(8 / 3) = 4 points per chunk; later chunks carry their first point over
    assert sizes == [3 * 4, 3 * 3]


def test_rows_select_each_rows_target_and_arguments():
    index = torch.tensor([2, 2, 0])
    assert rows_target([(0, 1), (1, 1), (2, 0)], index) == [(2, 0), (2, 0), (0, 1)]
    assert rows_target(torch.tensor([5, 6, 7]), index).tolist() == [7, 7, 5]
    assert rows_target(3, index) == 3
    assert rows_target((1, 2), index) == (1, 2)
    assert rows_target(torch.tensor([4]), index).tolist() == [4]
    args = rows_additional_args((torch.tensor([10, 11, 12]), "keep", torch.tensor(4.0)), index)
    assert args[0].tolist() == [12, 12, 10] and args[1] == "keep" and float(args[2]) == 4.0
    assert rows_additional_args(None, index) is None


def test_warnings_point_at_the_users_line():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_caller("direct")
        path_points_per_pass(1, 4, 10, 2, CPU)
        model = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 16, 3))
        LayerRSIGradCam(model, model[0]).attribute(torch.rand(2, 3, 4, 4), target=0,
                                                    n_steps=3, internal_batch_size=1)
    assert len(caught) == 3
    assert {w.filename for w in caught} == {__file__}
    assert "internal_batch_size=1 holds fewer than 2 path points" in str(caught[2].message)
