"""Pointing game: hand-placed peaks against boxes and masks, with and without tolerance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from captum_igos.metrics import boxes_to_masks, pointing_game


def peak_maps(peaks, size=(40, 40), channels=1, device="cpu"):
    """Maps that are 0 except 1 at each (row, col) peak."""
    maps = torch.zeros(len(peaks), channels, *size, device=device)
    for i, (row, col) in enumerate(peaks):
        maps[i, 0, row, col] = 1.0
    return maps


BOX = [0, 0, 20, 20]  # covers pixels 0..19 (centres 0.5 .. 19.5)


@pytest.mark.parametrize(
    "peak, tolerance, hit",
    [
        ((10, 10), 0, True),
        ((19, 19), 0, True),
        ((10, 20), 0, False),  # one pixel right of the box
        ((10, 20), 0.99, False),
        ((10, 20), 1, True),
        ((5, 34), 15, True),  # 15 pixels straight right of column 19
        ((5, 35), 15, False),  # 16 pixels
        ((30, 30), 15, False),  # diagonal: sqrt(11^2 + 11^2) = 15.56
        ((30, 30), 15.6, True),
    ],
)
def test_box_with_and_without_tolerance(device, peak, tolerance, hit):
    maps = peak_maps([peak], device=device)
    result = pointing_game(maps, torch.tensor([BOX]), tolerance=tolerance)
    assert result.dtype == torch.bool and result.device.type == device.type
    assert result.tolist() == [hit]


def test_default_tolerance_is_15_pixels():
    maps = peak_maps([(5, 34), (5, 35)])
    assert pointing_game(maps, torch.tensor([BOX, BOX])).tolist() == [True, False]


def test_masks_equal_their_boxes_and_any_shape_counts():
    peaks = [(10, 10), (10, 25), (30, 30), (39, 0)]
    maps = peak_maps(peaks)
    boxes = torch.tensor([BOX] * 4)
    masks = boxes_to_masks(boxes, (40, 40))
    assert int(masks[0].sum()) == 400 and bool(masks[0, :20, :20].all())
    for tolerance in (0, 5, 15, 40):
        torch.testing.assert_close(
            pointing_game(maps, masks, tolerance), pointing_game(maps, boxes, tolerance)
        )
    ring = torch.zeros(4, 40, 40, dtype=torch.bool)
    ring[:, 38:, :] = True  # bottom two rows
    assert pointing_game(maps, ring, tolerance=0).tolist() == [False, False, False, True]
    assert pointing_game(maps, ring, tolerance=8).tolist() == [False, False, True, True]


def test_several_boxes_per_image_count_as_their_union():
    maps = peak_maps([(35, 35), (35, 35)])
    boxes = [[BOX, [30, 30, 40, 40]], torch.tensor([BOX])]
    assert pointing_game(maps, boxes, tolerance=0).tolist() == [True, False]


def test_agrees_with_dilated_mask_formulation():
    # Zhang et al.'s check: the peak falls inside the region dilated by a disk of radius tol
    torch.manual_seed(3)
    maps = torch.randn(16, 2, 24, 24)
    masks = torch.rand(16, 24, 24) > 0.97
    masks[:, 0, 0] = True
    for tolerance in (0, 2, 3.5, 7):
        radius = math.floor(tolerance)
        offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
        disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= tolerance**2).double()
        dilated = F.conv2d(masks[:, None].double(), disk[None, None], padding=radius)[:, 0] > 0
        peak = maps.sum(1).flatten(1).argmax(1)
        expected = dilated.flatten(1)[torch.arange(16), peak]
        assert pointing_game(maps, masks, tolerance).equal(expected)


def test_channels_summed_and_ties_take_the_first_maximum():
    maps = torch.zeros(1, 3, 10, 10)
    maps[0, 0, 8, 8] = 2.0
    maps[0, 1, 8, 8] = -1.5  # sum 0.5 at (8, 8)
    maps[0, 2, 1, 1] = 1.0  # sum 1.0 at (1, 1): the peak
    assert pointing_game(maps, torch.tensor([[0, 0, 2, 2]]), 0).tolist() == [True]
    absolute = pointing_game(maps, torch.tensor([[0, 0, 2, 2]]), 0, channel_reduction="abs_sum")
    assert absolute.tolist() == [False]  # |2| + |-1.5| = 3.5 at (8, 8)
    constant = torch.ones(2, 1, 10, 10)
    boxes = torch.tensor([[0, 0, 1, 1], [9, 9, 10, 10]])
    assert pointing_game(constant, boxes, 0).tolist() == [True, False]


def test_layer_map_upsampled_to_the_image_size():
    layer = torch.zeros(2, 1, 4, 4)
    layer[0, 0, 0, 0] = 1.0
    layer[1, 0, 3, 2] = 1.0  # upsampled peak near pixels (26..29, 18..21) of 32 x 32
    boxes = torch.tensor([[0, 0, 4, 4], [16, 24, 24, 32]])
    assert pointing_game(layer, boxes, 0, image_size=(32, 32)).tolist() == [True, True]
    masks = boxes_to_masks(boxes, (32, 32))
    assert pointing_game(layer, masks, 0).tolist() == [True, True]
    # without image_size the boxes are in the map's own 4 x 4 pixels
    assert pointing_game(layer, torch.tensor([[0, 0, 1, 1], [2, 3, 3, 4]]), 0).tolist() == [
        True,
        True,
    ]


@pytest.mark.parametrize(
    "boxes, kwargs, match",
    [
        (torch.tensor([[0, 0, 41, 10]]), {}, r"boxes inside the 40 x 40 image.*got \[0.0, 0.0, 41"),
        (torch.tensor([[-1, 0, 10, 10]]), {}, r"0 <= x0 < x1 <= 40"),
        (torch.tensor([[5, 0, 5, 10]]), {}, r"boxes inside"),
        (torch.tensor([[0, 0, 30, 30]]), {"image_size": (20, 20)}, r"20 x 20 image"),
        ([[[0, 0, 10, 10], [0, 0, 10, 50]]], {}, r"for image 0"),
        (torch.tensor([[0, 0, 10]]), {}, r"boxes of shape \(N, 4\)"),
        ([[]], {}, r"boxes\[0\] of shape \(K, 4\) with K >= 1"),
        (torch.tensor([BOX, BOX]), {}, r"boxes for 1 images, got 2"),
        (torch.zeros(1, 40, 40, dtype=torch.bool), {}, r"at least one pixel.*\[0\]"),
        (torch.ones(2, 40, 40, dtype=torch.bool), {}, r"bool tensor of shape \(N, H, W\)"),
        (torch.ones(1, 40, 40, dtype=torch.bool), {"tolerance": -1}, r"tolerance >= 0, got -1"),
        (torch.ones(1, 40, 40, dtype=torch.bool), {"image_size": (8, 8)}, r"image_size \(40, 40\)"),
        (torch.ones(1, 30, 30, dtype=torch.bool), {}, r"expected attributions of shape"),
    ],
)
def test_bad_input_raises(boxes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pointing_game(peak_maps([(0, 0)]), boxes, **kwargs)


def test_bad_types_raise():
    with pytest.raises(TypeError, match="attributions to be a torch.Tensor"):
        pointing_game([[0.0]], torch.tensor([BOX]))
    with pytest.raises(TypeError, match="boxes as an \\(N, 4\\) tensor"):
        pointing_game(peak_maps([(0, 0)]), "box")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_maps_and_boxes_are_refused(bad):
    """A NaN map has no maximum (argmax would silently point at the NaN)."""
    maps = peak_maps([(0, 0), (5, 5)])
    maps[1, 0, 30, 30] = bad
    kept = maps.clone()
    with pytest.raises(ValueError, match=r"^expected attributions with finite values, got 1 "
                       r"NaN or inf value\(s\) of 3200$"):
        pointing_game(maps, torch.tensor([BOX, BOX]))
    assert torch.equal(maps.nan_to_num(7.0), kept.nan_to_num(7.0))
    boxes = torch.tensor([BOX, [0.0, 0.0, bad, 10.0]])
    with pytest.raises(ValueError, match=r"^expected boxes\[1\] with finite values, got 1 "):
        pointing_game(peak_maps([(0, 0), (5, 5)]), boxes)
    with pytest.raises(ValueError, match=r"^expected boxes\[0\] with finite values"):
        boxes_to_masks([[[0.0, 0.0, bad, 4.0]]], (8, 8))
