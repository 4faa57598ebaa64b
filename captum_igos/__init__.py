"""captum-igos: I-GOS, iGOS++ and RSI-Grad-CAM as Captum attributions.

Public names only; the implementations live in the private ``_core`` and ``_utils``.
They are imported on first use (PEP 562), so that ``import captum_igos.cli`` costs no
PyTorch import: the command line parses its arguments and catches Ctrl-C (exit 130, one
line) from its first instruction, including while PyTorch loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the static view of the lazy names below
    from captum_igos import metrics
    from captum_igos._core.igos import IGOS
    from captum_igos._core.igos_plus_plus import IGOSPlusPlus
    from captum_igos._core.mask_optimization import MaskOptimizationResult
    from captum_igos._core.rsi_grad_cam import LayerRSIGradCam
    from captum_igos._utils.reshape import vit_reshape_transform
    from captum_igos.maps import EmptyMapWarning

__version__ = "0.1.0"

#: Public name -> the module that defines it (a module itself for ``metrics``).
_HOMES = {
    "EmptyMapWarning": "captum_igos.maps",
    "IGOS": "captum_igos._core.igos",
    "IGOSPlusPlus": "captum_igos._core.igos_plus_plus",
    "LayerRSIGradCam": "captum_igos._core.rsi_grad_cam",
    "MaskOptimizationResult": "captum_igos._core.mask_optimization",
    "metrics": "captum_igos.metrics",
    "vit_reshape_transform": "captum_igos._utils.reshape",
}

__all__ = [
    "EmptyMapWarning",
    "IGOS",
    "IGOSPlusPlus",
    "LayerRSIGradCam",
    "MaskOptimizationResult",
    "__version__",
    "metrics",
    "vit_reshape_transform",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'captum_igos' has no attribute {name!r}")
    module = importlib.import_module(home)
    value = module if name == "metrics" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
