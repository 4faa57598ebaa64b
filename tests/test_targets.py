"""DetectionScore and SegmentationScore: hand-computed scores, planted evidence, batching."""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients, LayerGradCam, NoiseTunnel, Occlusion
from torch import nn

from captum_igos import IGOS
from captum_igos.metrics import deletion_insertion
from captum_igos.targets import DetectionScore, SegmentationScore

SIZE = 16
#: Where the planted object lies (rows, columns), and its box (x0, y0, x1, y1).
ROWS, COLS = slice(2, 8), slice(8, 14)
BOX = torch.tensor([8.0, 2.0, 14.0, 8.0])
MASK_SETTINGS = {"score": "raw", "mask_size": 4, "iterations": 4, "n_steps": 3,
                 "noise_std": 0.0, "l1_coeff": 0.01, "tv_coeff": 0.1}


class PlantedDetector(nn.Module):
    """Detects label 3 at BOX with probability sigmoid(8 (mean of the box's pixels - 0.5))
    and label 5 at a box in the other corner; torchvision's output format."""

    def forward(self, images):
        out = []
        for image in images:
            inside = image[:, ROWS, COLS].mean()
            other = image[:, 10:16, 0:6].mean()
            out.append({
                "boxes": torch.stack([BOX, torch.tensor([0.0, 10.0, 6.0, 16.0])]).to(image),
                "labels": torch.tensor([3, 5]),
                "scores": torch.stack([torch.sigmoid(8 * (inside - 0.5)),
                                       torch.sigmoid(8 * (other - 0.5))]),
            })
        return out


def test_detection_score_is_iou_times_probability_of_the_best_match_by_hand():
    x = torch.rand(2, 3, SIZE, SIZE)
    half = torch.tensor([8.0, 2.0, 14.0, 5.0])  # the top half of BOX: IoU 0.5
    score = DetectionScore(PlantedDetector(), boxes=half, labels=3)(x)
    expected = 0.5 * torch.sigmoid(8 * (x[:, :, ROWS, COLS].mean(dim=(1, 2, 3)) - 0.5))
    torch.testing.assert_close(score, expected.unsqueeze(1))
    # wrong label, or a box that overlaps nothing: 0, still differentiable
    assert torch.equal(DetectionScore(PlantedDetector(), half, 4)(x), torch.zeros(2, 1))
    far = torch.tensor([0.0, 0.0, 2.0, 2.0])
    x.requires_grad_(True)
    zero = DetectionScore(PlantedDetector(), far, 3)(x)
    assert torch.equal(zero, torch.zeros(2, 1))
    (grad,) = torch.autograd.grad(zero.sum(), x)
    assert torch.equal(grad, torch.zeros_like(x))
    with pytest.raises(ValueError, match="min_iou in"):
        DetectionScore(PlantedDetector(), half, 3, min_iou=1.5)


def _inside_beats_outside(maps):
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[ROWS, COLS] = True
    flat = maps.abs().sum(dim=1)
    return [bool(m[inside].mean() > m[~inside].mean()) for m in flat]


def _in_region(maps):
    flat = maps.abs().sum(dim=1).flatten(1).argmax(dim=1)
    rows, cols = flat // SIZE, flat % SIZE
    return [ROWS.start <= r < ROWS.stop and COLS.start <= c < COLS.stop
            for r, c in zip(rows.tolist(), cols.tolist())]


def test_planted_detection_is_found_by_igos_and_captums_methods():
    torch.manual_seed(0)
    x = torch.rand(2, 3, SIZE, SIZE) * 0.5 + 0.5
    wrapped = DetectionScore(PlantedDetector(), boxes=BOX, labels=3)
    igos = IGOS(wrapped).attribute(x, baselines=0.0, target=0, **MASK_SETTINGS)
    assert all(_inside_beats_outside(igos))
    ig = IntegratedGradients(wrapped).attribute(x, baselines=0.0, target=0, n_steps=8)
    assert all(_in_region(ig))
    occlusion = Occlusion(wrapped).attribute(x, target=0, sliding_window_shapes=(3, 2, 2),
                                             strides=(3, 2, 2))
    assert all(_in_region(occlusion))


def test_per_image_boxes_follow_their_images_through_every_batching():
    torch.manual_seed(1)
    x = torch.rand(2, 3, SIZE, SIZE)
    boxes = torch.stack([BOX, torch.tensor([0.0, 10.0, 6.0, 16.0])])
    labels = torch.tensor([3, 5])
    wrapped = DetectionScore(PlantedDetector())
    args = (boxes, labels)
    together_ig = IntegratedGradients(wrapped).attribute(
        x, target=0, additional_forward_args=args, n_steps=6, internal_batch_size=5)
    together_igos = IGOS(wrapped).attribute(x, 0.0, 0, args, internal_batch_size=5,
                                            **MASK_SETTINGS)
    curves = deletion_insertion(wrapped, x, together_ig, target=0, n_steps=4, score="raw",
                                additional_forward_args=args, internal_batch_size=3)
    torch.manual_seed(2)
    tunnel = NoiseTunnel(IntegratedGradients(wrapped)).attribute(
        x, nt_samples=2, stdevs=0.05, target=0, additional_forward_args=args, n_steps=4)
    torch.manual_seed(2)
    noisy = x.repeat_interleave(2, dim=0) + torch.normal(0, torch.full((4, 3, SIZE, SIZE),
                                                                        0.05))
    for i in range(2):
        alone = DetectionScore(PlantedDetector(), boxes[i], int(labels[i]))
        alone_ig = IntegratedGradients(alone).attribute(x[i : i + 1], target=0, n_steps=6)
        torch.testing.assert_close(together_ig[i : i + 1], alone_ig)
        alone_igos = IGOS(alone).attribute(x[i : i + 1], 0.0, 0, **MASK_SETTINGS)
        torch.testing.assert_close(together_igos[i : i + 1], alone_igos)
        alone_curves = deletion_insertion(alone, x[i : i + 1], together_ig[i : i + 1],
                                          target=0, n_steps=4, score="raw")
        torch.testing.assert_close(curves.deletion[i : i + 1], alone_curves.deletion)
        by_hand = IntegratedGradients(alone).attribute(noisy[2 * i : 2 * i + 2], target=0,
                                                       n_steps=4).mean(dim=0, keepdim=True)
        torch.testing.assert_close(tunnel[i : i + 1], by_hand)
    assert (together_igos[0] != together_igos[1]).any()


def test_constructor_boxes_for_other_rows_are_refused_with_what_to_do():
    wrapped = DetectionScore(PlantedDetector(), boxes=torch.stack([BOX, BOX]), labels=3)
    with pytest.raises(ValueError, match=r"1 or 6 rows.*additional_forward_args"):
        wrapped(torch.rand(6, 3, SIZE, SIZE))


def test_probability_score_of_a_wrapper_is_refused():
    wrapped = DetectionScore(PlantedDetector(), boxes=BOX, labels=3)
    with pytest.raises(ValueError, match="score='raw'"):
        IGOS(wrapped).attribute(torch.rand(1, 3, SIZE, SIZE), target=0, iterations=1,
                                n_steps=1, mask_size=2)


class PlantedSegmenter(nn.Module):
    """Class 1's logit at each pixel is 6 * (the pixel's first channel - 0.5); class 0's 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.bias.copy_(torch.tensor([0.0, -3.0]))
            self.conv.weight[1, 0] = 6.0

    def forward(self, x):
        return {"out": self.conv(x)}


def test_segmentation_score_by_hand_and_planted_mask():
    torch.manual_seed(0)
    x = torch.rand(2, 3, SIZE, SIZE)
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[ROWS, COLS] = True
    model = PlantedSegmenter()
    score = SegmentationScore(model, mask, labels=1)(x)
    expected = torch.sigmoid(6 * (x[:, 0, ROWS, COLS] - 0.5)).mean(dim=(1, 2))
    torch.testing.assert_close(score, expected.unsqueeze(1))
    summed = SegmentationScore(model, mask, 1, probability=False, reduction="sum")(x)
    torch.testing.assert_close(summed[:, 0], (6 * (x[:, 0, ROWS, COLS] - 0.5)).sum(dim=(1, 2)))
    wrapped = SegmentationScore(model, mask, labels=1)
    ig = IntegratedGradients(wrapped).attribute(x, baselines=0.0, target=0, n_steps=4)
    assert all(_in_region(ig))
    assert ig[:, :, ~mask].abs().max() == 0  # pixels outside the mask carry nothing
    cam = LayerGradCam(wrapped, model.conv).attribute(x, target=0)
    assert cam.shape == (2, 1, SIZE, SIZE)
    igos = IGOS(wrapped).attribute(x, baselines=0.0, target=0, **MASK_SETTINGS)
    assert all(_inside_beats_outside(igos))
    with pytest.raises(ValueError, match=r"masks of shape \(N, 16, 16\)"):
        SegmentationScore(model, torch.ones(4, 4), 1)(x)


@pytest.mark.slow
def test_torchvision_detector_and_segmenter_with_random_weights():
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    torch.manual_seed(0)
    detector = fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0, num_classes=5).eval()
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        found = detector(list(x))
    box = found[0]["boxes"][0]
    label = int(found[0]["labels"][0])
    wrapped = DetectionScore(detector, boxes=box, labels=label)
    direct = wrapped(x[:1])
    assert direct.shape == (1, 1) and direct.item() == pytest.approx(
        float(found[0]["scores"][0]), rel=1e-4)  # its own box: IoU 1, the same probability
    ig = IntegratedGradients(wrapped).attribute(x[:1], target=0, n_steps=2)
    assert ig.shape == (1, 3, 96, 96) and torch.isfinite(ig).all() and ig.abs().max() > 0

    segmenter = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                             num_classes=3, aux_loss=False).eval()
    mask = torch.zeros(2, 96, 96, dtype=torch.bool)
    mask[0, :48], mask[1, 48:] = True, True
    labels = torch.tensor([1, 2])
    seg = SegmentationScore(segmenter)
    with torch.no_grad():
        probabilities = torch.softmax(segmenter(x)["out"], dim=1)
        scores = seg(x, mask, labels)
    for i, c in enumerate([1, 2]):
        assert scores[i, 0].item() == pytest.approx(probabilities[i, c][mask[i]].mean().item(),
                                                    rel=1e-5)
    ig = IntegratedGradients(seg).attribute(x, target=0, additional_forward_args=(mask, labels),
                                            n_steps=2)
    assert torch.isfinite(ig).all() and ig.abs().max() > 0


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: DetectionScore(PlantedDetector(), torch.tensor([0.0, 0.0, float("nan"), 4.0]), 3),
         ValueError, r"^expected boxes with finite values, got 1 NaN or inf value\(s\) of 4$"),
        (lambda: DetectionScore(PlantedDetector(), BOX, torch.tensor([3.0])), TypeError,
         r"^expected integer labels \(e.g. torch.long\), got dtype torch.float32$"),
        (lambda: DetectionScore(PlantedDetector(), BOX, -1), ValueError,
         r"^expected labels >= 0, got -1$"),
        (lambda: DetectionScore(PlantedDetector(), [8, 2, 14, 8], 3), TypeError,
         r"^expected boxes to be a tensor, got list"),
        (lambda: SegmentationScore(PlantedSegmenter(), torch.full((SIZE, SIZE), float("inf")), 1),
         ValueError, r"^expected masks with finite values, got 256 NaN or inf"),
        (lambda: SegmentationScore(PlantedSegmenter(), torch.full((SIZE, SIZE), 2.0), 1),
         ValueError, r"^expected masks as bool or weights in \[0, 1\], got values in \[2, 2\]$"),
    ],
)
def test_bad_boxes_labels_and_masks_are_refused_when_built(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_per_call_arguments_and_labels_beyond_the_classes_are_refused():
    segmenter = PlantedSegmenter()
    before = {k: v.clone() for k, v in segmenter.state_dict().items()}
    mask = torch.ones(SIZE, SIZE, dtype=torch.bool)
    x = torch.rand(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"^expected labels below 2 \(the output's classes\), "
                       r"got 5$"):
        SegmentationScore(segmenter, mask, 5)(x)
    wrapped = DetectionScore(PlantedDetector())
    boxes = torch.stack([BOX, BOX.masked_fill(BOX > 10, float("nan"))])
    with pytest.raises(ValueError, match=r"^expected boxes with finite values, got 1 "):
        wrapped(x, boxes, torch.tensor([3, 3]))
    with pytest.raises(TypeError, match=r"^expected integer labels"):
        wrapped(x, torch.stack([BOX, BOX]), torch.tensor([3.0, 3.0]))
    assert all(torch.equal(v, before[k]) for k, v in segmenter.state_dict().items())
    assert not torch.isnan(BOX).any()


def _flags(model):
    return [m.training for m in model.modules()]


@pytest.fixture(scope="module")
def faster_rcnn():
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(0)
    return fasterrcnn_mobilenet_v3_large_320_fpn(
        weights=None, weights_backbone=None, box_score_thresh=0.0, num_classes=5)


@pytest.fixture(scope="module")
def deeplab():
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    torch.manual_seed(0)
    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=3,
                                        aux_loss=False)


ORDER = r"^expected boxes \(x0, y0, x1, y1\) with x0 < x1 and y0 < y1 \(a positive area\), got "


@pytest.mark.parametrize(
    ("boxes", "labels", "error", "match"),
    [
        (torch.tensor([14.0, 2, 8, 8]), 3, ValueError,
         ORDER + r"\[14.0, 2.0, 8.0, 8.0\] in row 0$"),
        (torch.tensor([[8.0, 2, 14, 8], [8, 2, 8, 8]]), 3, ValueError,
         ORDER + r"\[8.0, 2.0, 8.0, 8.0\] in row 1$"),
        (torch.tensor([8.0, 2, 14, 2]), 3, ValueError,
         ORDER + r"\[8.0, 2.0, 14.0, 2.0\] in row 0$"),
        (torch.tensor([8.0, 2, 14]), 3, ValueError,
         r"^expected boxes of shape \(4,\) or \(N, 4\) as \(x0, y0, x1, y1\), got \(3,\)$"),
        (torch.tensor([True, False, True, True]), 3, TypeError,
         r"^expected boxes as real numbers, got dtype torch.bool$"),
        (BOX, torch.tensor([[3]]), ValueError,
         r"^expected labels of shape \(\), \(1,\) or \(N,\), got \(1, 1\)$"),
    ],
    ids=["inverted", "zero_width", "zero_height", "three_numbers", "bool", "labels_2d"])
def test_boxes_without_area_or_of_the_wrong_form_are_refused_when_built(boxes, labels, error,
                                                                       match):
    kept = boxes.clone()
    with pytest.raises(error, match=match):
        DetectionScore(PlantedDetector(), boxes, labels)
    assert torch.equal(boxes, kept)


OUTSIDE = (r"^expected boxes that overlap the 16 x 16 image \(x0 < 16, y0 < 16, x1 > 0, "
           r"y1 > 0\), got ")


@pytest.mark.parametrize(
    ("box", "got"),
    [(torch.tensor([20.0, 2, 30, 8]), r"\[20.0, 2.0, 30.0, 8.0\]"),
     (torch.tensor([-8.0, -6, -2, -1]), r"\[-8.0, -6.0, -2.0, -1.0\]"),
     (torch.tensor([2.0, 16, 8, 20]), r"\[2.0, 16.0, 8.0, 20.0\]")],
    ids=["right", "negative", "below"])
def test_a_box_wholly_outside_the_image_is_refused_before_the_model_runs(box, got):
    detector = CountingDetector()
    x = torch.rand(2, 3, SIZE, SIZE)
    kept = x.clone()
    with pytest.raises(ValueError, match=f"{OUTSIDE}{got} in row 0, which lies wholly outside"):
        DetectionScore(detector, box, 3)(x)
    with pytest.raises(ValueError, match=f"{OUTSIDE}{got} in row 1, which lies wholly outside"):
        DetectionScore(detector)(x, torch.stack([BOX, box]), torch.tensor([3, 3]))
    assert detector.calls == 0 and torch.equal(x, kept)
    # partly outside is a box the detector can still find (it clips its own boxes)
    assert DetectionScore(detector, torch.tensor([8.0, -4, 20, 8]), 3)(x).shape == (2, 1)


class CountingDetector(PlantedDetector):
    """PlantedDetector that counts its calls and, as torchvision's, refuses training mode."""

    def __init__(self, keys=("boxes", "labels", "scores")) -> None:
        super().__init__()
        self.calls, self.keys = 0, keys
        self.head = nn.Linear(1, 1)  # a submodule, whose flag must be restored too

    def forward(self, images):
        if self.training:
            raise AssertionError("targets should not be none when in training mode")
        self.calls += 1
        return [{k: v for k, v in found.items() if k in self.keys}
                for found in super().forward(images)]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s, x: s([x[0], x[1]]), TypeError,
         r"^expected images as one tensor \(N, C, H, W\), got list of 2 \(tensor of shape "
         r"\(3, 16, 16\) and dtype torch.float32; tensor of shape \(3, 16, 16\) and dtype "
         r"torch.float32\); stack images of one size with torch.stack \(the wrapper hands the "
         r"model its list\)$"),
        (lambda s, x: s(x[0]), ValueError,
         r"^expected images of shape \(N, C, H, W\) with N >= 1, got \(3, 16, 16\)$"),
        (lambda s, x: s((x * 255).to(torch.uint8)), TypeError,
         r"^expected images to be a floating-point tensor"),
    ],
    ids=["list", "one_image", "uint8"])
def test_images_that_are_not_a_batch_tensor_are_refused(call, error, match):
    x = torch.rand(2, 3, SIZE, SIZE)
    kept = x.clone()
    detector = CountingDetector()
    mask = torch.ones(SIZE, SIZE, dtype=torch.bool)
    segmenter = SegmentationScore(PlantedSegmenter(), mask, 1)
    for wrapped in (DetectionScore(detector, BOX, 3), segmenter):
        with pytest.raises(error, match=match):
            call(wrapped, x)
    assert detector.calls == 0 and torch.equal(x, kept)


def test_missing_output_keys_are_named_with_the_keys_there_are():
    x = torch.rand(2, 3, SIZE, SIZE)
    no_scores = DetectionScore(CountingDetector(keys=("boxes", "labels")), BOX, 3)
    with pytest.raises(ValueError, match=r"^expected each detection dict with the key 'scores' "
                       r"\(torchvision's format\), got keys \['boxes', 'labels'\]$"):
        no_scores(x)
    logits_only = lambda images: {"logits": PlantedSegmenter()(images)["out"]}  # noqa: E731
    mask = torch.ones(SIZE, SIZE, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"^expected the segmenter's output dict with the key "
                       r"'out' \(torchvision's format\), got keys \['logits'\]$"):
        SegmentationScore(logits_only, mask, 1)(x)
    class OneDict(nn.Module):
        def forward(self, images):
            return {"boxes": BOX[None]}

    one_dict = DetectionScore(OneDict(), BOX, 3)
    with pytest.raises(ValueError, match=r"^expected the detector to return a list of 2 dicts "
                       r"\(one per image\), got dict with keys \['boxes'\]$"):
        one_dict(x)


@pytest.mark.parametrize(
    ("masks", "error", "match"),
    [
        (torch.zeros(SIZE, SIZE, dtype=torch.bool), ValueError,
         r"^expected each mask to mark at least one pixel \(its score would be 0 whatever the "
         r"image\), got none in mask\(s\) \[0\]$"),
        (torch.stack([torch.ones(SIZE, SIZE), torch.zeros(SIZE, SIZE)]), ValueError,
         r"got none in mask\(s\) \[1\]$"),
        (torch.ones(SIZE, SIZE, dtype=torch.long), TypeError,
         r"^expected masks as a bool tensor or floating weights in \[0, 1\], got dtype "
         r"torch.int64; convert a 0/1 mask with .bool\(\)$"),
        (torch.ones(SIZE * SIZE, dtype=torch.bool), ValueError,
         r"^expected masks of shape \(H, W\) or \(N, H, W\), got \(256,\)$"),
    ],
    ids=["empty", "one_empty", "integer", "flat"])
def test_masks_without_a_pixel_or_of_the_wrong_form_are_refused(masks, error, match):
    segmenter = PlantedSegmenter().train()
    flags = _flags(segmenter)
    kept = masks.clone()
    with pytest.raises(error, match=match):
        SegmentationScore(segmenter, masks, 1)
    with pytest.raises(error, match=match):  # per call, before the model runs
        SegmentationScore(segmenter, labels=1)(torch.rand(1, 3, SIZE, SIZE), masks)
    assert torch.equal(masks, kept) and _flags(segmenter) == flags


def test_labels_beyond_a_torchvision_models_classes_are_refused(faster_rcnn, deeplab):
    faster_rcnn.train()
    x = torch.rand(1, 3, 64, 64)
    kept, flags = x.clone(), _flags(faster_rcnn)
    classes = (r"^expected labels in \[1, 4\] \(the classes of this FasterRCNN; 0 is its "
               r"background\), got ")
    with pytest.raises(ValueError, match=classes + "99$"):
        DetectionScore(faster_rcnn, BOX, 99)
    with pytest.raises(ValueError, match=classes + "0$"):
        DetectionScore(faster_rcnn, BOX, 0)
    with pytest.raises(ValueError, match=classes + "5$"):
        DetectionScore(faster_rcnn, BOX)(x, BOX, torch.tensor([5]))
    assert _flags(faster_rcnn) == flags and torch.equal(x, kept)
    mask = torch.ones(SIZE, SIZE, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"^expected labels in \[0, 2\] \(the classes of this "
                       r"DeepLabV3\), got 3$"):
        SegmentationScore(deeplab, mask, 3)


def test_the_wrapped_model_runs_in_eval_mode_and_keeps_its_flags():
    detector = CountingDetector().train()
    segmenter = PlantedSegmenter().train()
    x = torch.rand(2, 3, SIZE, SIZE) * 0.5 + 0.5
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[ROWS, COLS] = True
    for model, wrapped in ((detector, DetectionScore(detector, BOX, 3)),
                           (segmenter, SegmentationScore(segmenter, mask, 1))):
        ig = IntegratedGradients(wrapped).attribute(x, baselines=0.0, target=0, n_steps=4)
        assert all(_in_region(ig))
        assert all(m.training for m in model.modules())


@pytest.mark.slow
def test_captums_integrated_gradients_works_on_a_detector_left_in_training_mode(faster_rcnn):
    faster_rcnn.train()
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        found = faster_rcnn.eval()(list(x))[0]
    faster_rcnn.train()
    wrapped = DetectionScore(faster_rcnn, boxes=found["boxes"][0], labels=int(found["labels"][0]))
    ig = IntegratedGradients(wrapped).attribute(x, target=0, n_steps=2)
    assert torch.isfinite(ig).all() and ig.abs().max() > 0
    assert all(m.training for m in faster_rcnn.modules())
