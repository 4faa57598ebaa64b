"""captum-igos: I-GOS, iGOS++ and RSI-Grad-CAM as Captum attributions.

Public names only; the implementations live in the private ``_core`` and ``_utils``.
"""

from captum_igos import metrics
from captum_igos._core.igos import IGOS
from captum_igos._core.igos_plus_plus import IGOSPlusPlus
from captum_igos._core.mask_optimization import MaskOptimizationResult
from captum_igos._core.rsi_grad_cam import LayerRSIGradCam
from captum_igos._utils.reshape import vit_reshape_transform

__version__ = "0.1.0"

__all__ = [
    "IGOS",
    "IGOSPlusPlus",
    "LayerRSIGradCam",
    "MaskOptimizationResult",
    "__version__",
    "metrics",
    "vit_reshape_transform",
]
