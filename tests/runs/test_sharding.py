"""Ranks and shares without a launcher: the split, torchrun's variables, the checks."""

from __future__ import annotations

import pytest
import torch

from captum_igos.runs import RunError, explain_dataset
from captum_igos.runs.sharding import Ranks, share, start
from tests.runs.test_dataset import LIGHT, make_folder


@pytest.mark.parametrize("count", [0, 1, 5, 8, 9])
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shares_cover_the_items_once_without_padding(count, world):
    items = list(range(count))
    shares = [share(items, rank, world) for rank in range(world)]
    assert sorted(x for part in shares for x in part) == items
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    assert shares[0] == items[::world]


def test_a_bad_rank_is_a_value_error():
    with pytest.raises(ValueError, match="expected 0 <= rank < world_size, got rank 2 of 2"):
        share([1, 2], 2, 2)


def test_one_plain_process_is_rank_0_of_1_without_a_group(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert start("cpu") == Ranks(0, 1, 0, None, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="integer in environment variable WORLD_SIZE, got 'two'"):
        start("cpu")


def test_more_ranks_than_gpus_is_refused_before_nccl_starts(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: pytest.fail("set_device"))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match="one rank per GPU .*got LOCAL_RANK 1"):
        start("auto")


def test_a_rank_that_lists_other_images_stops(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "data", per_class=1, bad=False)
    monkeypatch.setattr(Ranks, "broadcast", lambda self, value: (value[0], (7, "other")))
    with pytest.raises(RunError, match="rank 0 lists 2 image.*rank 0 lists 7"):
        explain_dataset(root, ["gradcam"], tmp_path / "out",
                        model="tests.runs.tiny_model:build", **LIGHT)
