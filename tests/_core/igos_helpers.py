"""Models and plain per-step reference computations shared by the I-GOS / iGOS++ tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Rows and columns (half-open) of the planted evidence in a 32 x 32 image.
REGION = (slice(16, 28), slice(4, 16))
SIZE = 32


class PlantedEvidence(nn.Module):
    """Class 1's logit is the high-frequency energy inside ``REGION``; class 0's is 0.

    A fixed Laplacian (averaged over channels) measures texture; blurring the region
    removes it, so only the region can explain class 1. Calibrated for uniform-noise
    images: energy about 0.56 on the image, about 0 on its blur, so ``p1`` is about 0.94
    on the image and 0.06 on the baseline.
    """

    def __init__(self, gain: float = 10.0, offset: float = 0.28) -> None:
        super().__init__()
        laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
        self.conv = nn.Conv2d(3, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(laplacian.expand(1, 3, 3, 3) / 3)
        region = torch.zeros(1, 1, SIZE, SIZE)
        region[..., REGION[0], REGION[1]] = 1.0
        self.register_buffer("region", region)
        self.gain, self.offset = gain, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = (self.conv(x) ** 2 * self.region).sum(dim=(1, 2, 3)) / self.region.sum()
        logit = self.gain * (energy - self.offset)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def in_region(heatmaps: torch.Tensor) -> list[bool]:
    """Whether each heatmap's maximum (over channels and pixels) lies in ``REGION``."""
    flat = heatmaps.amax(dim=1).flatten(1).argmax(dim=1)
    rows, cols = flat // heatmaps.shape[-1], flat % heatmaps.shape[-1]
    return [
        REGION[0].start <= int(r) < REGION[0].stop and REGION[1].start <= int(c) < REGION[1].stop
        for r, c in zip(rows, cols)
    ]


class TinyNet(nn.Module):
    """A small conv classifier with three classes (any dtype after ``.double()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).mean(dim=(2, 3)))


def plain_upsample(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=True)


def plain_tv(mask: torch.Tensor) -> torch.Tensor:
    dy = (mask[..., 1:, :] - mask[..., :-1, :]) ** 2
    dx = (mask[..., :, 1:] - mask[..., :, :-1]) ** 2
    return dy.mean() + dx.mean()


def plain_path_score(model, start, end, up_mask, target, n_steps, noise, score="probability"):
    """(1/S) sum_s f_c(start + s/S up(M) (end - start) + eps_s) for ONE image, step by step."""
    total = 0.0
    for s in range(1, n_steps + 1):
        point = start + (s / n_steps) * up_mask * (end - start)
        if noise is not None:
            point = point + noise[s - 1]
        out = model(point)
        if score == "probability":
            out = torch.softmax(out, dim=1)
        total = total + out[0, target]
    return total / n_steps


def plain_igos_objective(model, x, baseline, mask, target, n_steps, noise, l1, tv, score):
    """I-GOS F_S(M) for ONE image (x of shape (1, C, H, W), mask (1, 1, h, w))."""
    up = plain_upsample(mask, tuple(x.shape[-2:]))
    deletion = plain_path_score(model, baseline, x, up, target, n_steps, noise, score)
    return deletion + l1 * (1 - mask).abs().mean() + tv * plain_tv(mask)


def plain_igos_direction(model, x, baseline, mask, target, n_steps, noise, l1, tv, score):
    """(F_S(M), grad_M F_S(M)) for ONE image, every path step its own backward pass."""
    leaf = mask.detach().requires_grad_(True)
    up = plain_upsample(leaf, tuple(x.shape[-2:]))
    grad = torch.zeros_like(leaf)
    for s in range(1, n_steps + 1):
        point = baseline + (s / n_steps) * up * (x - baseline)
        if noise is not None:
            point = point + noise[s - 1]
        out = model(point)
        out = torch.softmax(out, dim=1) if score == "probability" else out
        grad += torch.autograd.grad(out[0, target] / n_steps, leaf, retain_graph=True)[0]
    # |1 - M| has a zero subgradient at M = 1 in autograd; the package uses the
    # derivative of mean(1 - M), which is -1 / (h w) everywhere on [0, 1].
    grad += l1 * torch.full_like(leaf, -1.0 / leaf[0, 0].numel())
    grad += tv * torch.autograd.grad(plain_tv(leaf), leaf)[0]
    value = plain_igos_objective(model, x, baseline, mask, target, n_steps, noise, l1, tv, score)
    return value.detach(), grad


def no_hooks(module: nn.Module) -> bool:
    return all(
        not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
        for m in module.modules()
    )


def state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_state(module: nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in module.state_dict().items())
