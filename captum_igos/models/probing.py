"""Network probing: which modules of a model produce spatial (N, C, h, w) outputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["spatial_layer_names"]


def spatial_layer_names(model: nn.Module, input_size: int) -> list[str]:
    """Names of modules whose output is (N, C, h, w) with h * w > 1, in completion order."""
    records: list[str] = []
    names = {module: name for name, module in model.named_modules() if name}

    def record(module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, Tensor) and output.dim() == 4 and output.shape[-2:].numel() > 1:
            records.append(names[module])

    handles = [module.register_forward_hook(record) for module in names]
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    seen: list[str] = []
    for name in records:
        if name not in seen:
            seen.append(name)
    return seen
