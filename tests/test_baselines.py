import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from captum_igos.baselines import blur_baseline, default_kernel_size
from tests.conftest import TOLERANCES


def test_default_kernel_follows_the_paper_at_224_and_scales():
    assert default_kernel_size(224, 224) == 51
    assert default_kernel_size(448, 500) == 103
    assert default_kernel_size(8, 8) == 3
    assert default_kernel_size(32, 32) % 2 == 1


def test_matches_torchvision_gaussian_blur(device, dtype):
    images = torch.rand(2, 3, 64, 48, device=device, dtype=dtype)
    ours = blur_baseline(images, kernel_size=15, sigma=14.0)
    reference = gaussian_blur(images, kernel_size=[15, 15], sigma=[14.0, 14.0])
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(ours, reference, rtol=rtol, atol=atol)
    assert ours.device == images.device and ours.dtype == dtype


def reference_blur(inputs, kernel_size, sigma):
    """The package's blur before it went through torchvision: a 1-D Gaussian, reflected
    (replicated when the image is smaller than half the kernel) borders, two separable
    convolutions."""
    height, width = inputs.shape[-2:]
    offsets = torch.arange(kernel_size, dtype=inputs.dtype, device=inputs.device)
    offsets = offsets - (kernel_size - 1) / 2
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = weights / weights.sum()
    channels, pad = inputs.shape[1], kernel_size // 2
    mode = "reflect" if pad < min(height, width) else "replicate"
    blurred = F.pad(inputs, (pad, pad, pad, pad), mode=mode)
    horizontal = weights.view(1, 1, 1, kernel_size).expand(channels, 1, 1, kernel_size)
    vertical = weights.view(1, 1, kernel_size, 1).expand(channels, 1, kernel_size, 1)
    blurred = F.conv2d(blurred, horizontal, groups=channels)
    return F.conv2d(blurred, vertical, groups=channels)


@pytest.mark.parametrize(
    "shape, kernel_size, sigma",
    [
        ((3, 3, 224, 224), 51, 50.0),  # the paper's setting, a batch
        ((2, 3, 64, 48), 15, 2.5),  # not square, a narrow Gaussian
        ((1, 1, 5, 7), 21, 20.0),  # kernel beyond the image: replicated borders
        ((2, 2, 9, 30), 19, 18.0),  # beyond the height only
    ],
)
def test_equals_the_former_separable_loop(device, dtype, shape, kernel_size, sigma):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(shape, generator=generator, dtype=dtype).to(device)
    ours = blur_baseline(images, kernel_size=kernel_size, sigma=sigma)
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(ours, reference_blur(images, kernel_size, sigma),
                               rtol=rtol, atol=atol)
    assert ours.device == images.device and ours.dtype == dtype
    assert (ours - images).abs().max() > 0.01  # a blur that did something


def test_default_blur_at_224_equals_kernel_51_sigma_50():
    images = torch.rand(1, 1, 224, 224, dtype=torch.float64)
    reference = gaussian_blur(images, kernel_size=[51, 51], sigma=[50.0, 50.0])
    torch.testing.assert_close(blur_baseline(images), reference, rtol=1e-9, atol=1e-9)


def test_constant_image_is_unchanged_even_when_kernel_exceeds_image():
    images = torch.full((1, 2, 5, 7), 0.3, dtype=torch.float64)
    torch.testing.assert_close(blur_baseline(images, kernel_size=21), images)


def test_blur_removes_detail_and_keeps_the_mean():
    images = torch.zeros(1, 1, 32, 32, dtype=torch.float64)
    images[..., ::2, :] = 1.0  # stripes
    blurred = blur_baseline(images)
    assert blurred.std() < 0.2 * images.std()  # kernel 7 at 32 px: stripes keep ~13%
    assert abs(blurred.mean().item() - images.mean().item()) < 0.05


def test_gradcheck():
    images = torch.rand(1, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: blur_baseline(x, kernel_size=3), (images,))


def test_inputs_not_mutated():
    images = torch.rand(1, 3, 16, 16)
    before = images.clone()
    blur_baseline(images)
    assert torch.equal(images, before)


IMAGE = torch.rand(1, 3, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"inputs": torch.rand(3, 16, 16)}, ValueError, r"\(N, C, H, W\).*got \(3, 16, 16\)"),
        ({"inputs": torch.zeros(1, 3, 4, 4, dtype=torch.uint8)}, TypeError, "floating-point"),
        ({"inputs": IMAGE, "kernel_size": 4}, ValueError, "odd kernel_size, got 4"),
        ({"inputs": IMAGE, "kernel_size": 0}, ValueError, "kernel_size >= 1, got 0"),
        ({"inputs": IMAGE, "sigma": -1.0}, ValueError, "sigma > 0, got -1.0"),
        ({"inputs": IMAGE, "sigma": float("inf")}, ValueError, "sigma to be finite, got inf"),
        ({"inputs": IMAGE.masked_fill(IMAGE > 0.5, float("nan"))}, ValueError,
         r"expected inputs with finite values, got \d+ NaN or inf value\(s\) of 192"),
        ({"inputs": IMAGE.numpy()}, TypeError,
         "expected inputs to be a torch.Tensor, got numpy.ndarray.*torch.from_numpy"),
    ],
)
def test_bad_input(kwargs, error, match):
    before = kwargs["inputs"].copy() if hasattr(kwargs["inputs"], "copy") else \
        kwargs["inputs"].clone()
    with pytest.raises(error, match=match):
        blur_baseline(**kwargs)
    after = kwargs["inputs"]
    assert (torch.as_tensor(after).nan_to_num(7).equal(torch.as_tensor(before).nan_to_num(7)))


def test_baseline_images_follow_captum_baseline_forms():
    from captum_igos.baselines import baseline_images

    images = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(baseline_images(None, images), blur_baseline(images))
    assert torch.equal(baseline_images(0.5, images), torch.full_like(images, 0.5))
    black = torch.zeros(1, 3, 1, 1)
    expanded = baseline_images((black,), images)
    assert expanded.shape == images.shape and expanded.dtype == torch.float64
    assert torch.equal(expanded, torch.zeros_like(images))
    with pytest.raises(ValueError, match=r"input's shape \(2, 3, 8, 8\), got \(3, 3, 8, 8\)"):
        baseline_images(torch.zeros(3, 3, 8, 8), images)
