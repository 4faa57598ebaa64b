"""saliency_map and the one table of channel reductions, on hand-computed values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from captum_igos.maps import CHANNEL_REDUCTIONS, reduce_channels, saliency_map


def test_channel_reductions_by_hand():
    x = torch.tensor([[[[1.0, -2.0]], [[-3.0, 4.0]]]])  # (1, 2, 1, 2)
    assert reduce_channels(x, "sum").tolist() == [[[[-2.0, 2.0]]]]
    assert reduce_channels(x, "abs_sum").tolist() == [[[[4.0, 6.0]]]]
    assert reduce_channels(x, "mean").tolist() == [[[[-1.0, 1.0]]]]
    assert set(CHANNEL_REDUCTIONS) == {"sum", "abs_sum", "mean"}
    with pytest.raises(ValueError, match="channel_reduction"):
        reduce_channels(x, "max")


def test_input_and_layer_shaped_maps():
    x = torch.tensor([[[[1.0, -2.0]], [[-3.0, 4.0]]]])
    assert saliency_map(x, (1, 2), 1).tolist() == [[[-2.0, 2.0]]]
    assert saliency_map(x, (1, 2), 1, "abs_sum").tolist() == [[[4.0, 6.0]]]
    layer = torch.arange(4.0).view(1, 1, 2, 2)
    expected = F.interpolate(layer, size=(4, 4), mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(saliency_map(layer, (4, 4), 1), expected)
    assert saliency_map(torch.ones(2, 3, 3), (3, 3), 2).shape == (2, 3, 3)  # (N, H, W) in


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match=r"with N = 2; got \(1, 1, 2, 2\)"):
        saliency_map(torch.ones(1, 1, 2, 2), (4, 4), 2)
    for bad in (float("nan"), float("inf"), -float("inf")):
        maps = torch.ones(1, 1, 2, 2)
        maps[0, 0, 1, 0] = bad
        with pytest.raises(ValueError, match=r"^expected attributions with finite values, got 1 "
                           r"NaN or inf value\(s\) of 4$"):
            saliency_map(maps, (4, 4), 1)
        assert maps[0, 0, 0].tolist() == [1.0, 1.0]  # untouched
    with pytest.raises(TypeError, match="expected attributions to be a floating-point tensor"):
        saliency_map(torch.ones(1, 1, 2, 2, dtype=torch.long), (4, 4), 1)


def test_empty_maps_are_the_constant_ones_and_those_an_empty_map_warning_names():
    import warnings

    from captum_igos.maps import EmptyMapWarning, empty_maps

    heatmaps = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(0))
    heatmaps[0] = 0.5
    assert empty_maps(heatmaps) == [True, False, False]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn(EmptyMapWarning("IGOS: ... [2] is empty", [2]), stacklevel=1)
        warnings.warn("another warning naming nothing", UserWarning, stacklevel=1)
    assert empty_maps(heatmaps, caught) == [True, False, True]
