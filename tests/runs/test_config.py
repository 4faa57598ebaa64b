"""RunConfig and the Python API: bad settings are ValueError / TypeError naming the setting,
raised before any work, never SystemExit; the command line shows the same defaults."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from captum_igos.cli.parser import COMMAND_DEFAULTS, build_parser, config_from
from captum_igos.runs import ConfigError, RunConfig, explain_dataset, explain_images
from captum_igos.runs.config import options
from tests.runs import tiny_model


@pytest.fixture
def never_loaded(monkeypatch):
    """Fails the test if a model is loaded (the check must come before any work)."""
    monkeypatch.setattr(tiny_model, "build", lambda device="cpu": pytest.fail("model loaded"))


@pytest.mark.parametrize(("settings", "error", "message"), [
    ({"methods": ["bogus"]}, ValueError, r"methods: expected method names from igos, .*got "
     r"unknown 'bogus'"),
    ({"methods": []}, ValueError, r"methods: expected at least one method name"),
    ({"methods": "gradcam"}, TypeError, r"methods: expected a list of method names, got str"),
    ({"batch_size": 0}, ValueError, r"batch_size: expected a positive integer, got 0"),
    ({"internal_batch_size": 0}, ValueError,
     r"internal_batch_size: expected a positive integer, got 0"),
    ({"metric_steps": 0}, ValueError, r"metric_steps: expected a positive integer, got 0"),
    ({"igos_steps": -1}, ValueError, r"igos_steps: expected a positive integer, got -1"),
    ({"metric_steps": 2.5}, TypeError, r"metric_steps: expected a positive integer, got float"),
    ({"batch_size": True}, TypeError, r"batch_size: expected a positive integer, got bool"),
    ({"target": 1.0}, TypeError, r"target: expected 'top1', 'label', a class index"),
    ({"target": " "}, ValueError, r"target: expected 'top1', 'label'"),
    ({"autocast": "float64"}, ValueError, r"autocast: expected one of none, float16, bfloat16"),
    ({"label_rule": "position"}, ValueError, r"label_rule: expected one of classes, sorted"),
    ({"device": "tpu"}, ValueError, r"device: expected one of auto, cpu, cuda, got 'tpu'"),
    ({"bogus": 1}, TypeError, r"expected settings of RunConfig .*got unknown bogus"),
])
def test_the_python_api_refuses_bad_settings_by_name(tmp_path, never_loaded, settings, error,
                                                      message):
    root = tmp_path / "data"
    root.mkdir()
    values = {"methods": ["gradcam"], "model": "tests.runs.tiny_model:build", **settings}
    methods = values.pop("methods")
    for call in (explain_dataset, lambda *a, **k: explain_images([root / "x.png"], *a[1:], **k)):
        with pytest.raises(error, match=message) as raised:
            call(root, methods, tmp_path / "out", **values)
        assert not isinstance(raised.value, SystemExit)
    assert not (tmp_path / "out").exists(), "nothing may be written before the checks"


def test_a_config_error_names_its_setting():
    with pytest.raises(ConfigError) as raised:
        RunConfig(metric_steps=0)
    assert isinstance(raised.value, ValueError)
    assert (raised.value.setting, raised.value.message) == (
        "metric_steps", "expected a positive integer, got 0")


def test_methods_are_kept_in_order_once():
    assert RunConfig(methods=["gradcam", "igos", "gradcam"]).methods == ("gradcam", "igos")


def test_every_command_has_every_setting_with_the_configs_default():
    """The parser reads its options and defaults from RunConfig: they cannot drift."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    flagged = {name for name, _, _ in options()}
    assert flagged == {f.name for f in fields(RunConfig)} - {"compare", "command"}
    for command, sub in commands.items():
        flags = {flag for action in sub._actions for flag in action.option_strings}
        assert {flag.flag for _, flag, _ in options()} <= flags
        argv = [command] + {"explain-dataset": ["ROOT"], "demo": []}.get(command, ["x.png"])
        config = config_from(parser.parse_args(argv))
        expected = RunConfig(**COMMAND_DEFAULTS[command], command=command)
        assert config == expected


def test_flags_mean_one_thing_in_every_command():
    parser = build_parser()
    argv = ["--method", "gradcam", "--methods", "ig,random", "--batch-size", "3",
            "--internal-batch-size", "7", "--model", "tests.runs.tiny_model:build",
            "--autocast", "bfloat16", "--metric-steps", "5"]
    for command, extra in (("explain", ["x.png"]), ("compare", ["x.png"]), ("demo", []),
                           ("explain-dataset", ["ROOT"])):
        config = config_from(parser.parse_args([command, *extra, *argv]))
        assert config.methods == ("gradcam", "ig", "random")
        assert (config.batch_size, config.internal_batch_size) == (3, 7)
        assert (config.model, config.autocast, config.metric_steps) == (
            "tests.runs.tiny_model:build", "bfloat16", 5)


def test_the_parser_takes_no_abbreviations():
    for sub in build_parser()._subparsers._group_actions[0].choices.values():
        assert isinstance(sub, argparse.ArgumentParser) and sub.allow_abbrev is False
