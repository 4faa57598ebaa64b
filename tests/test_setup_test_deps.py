"""``scripts/setup-test-deps.sh``: what ``make test`` (and so ``.ci/run``) runs before pytest.

Run with a ``PATH`` of stub commands, so each case is the machine it imitates: chromium
present (nothing to do, silent), or missing on a machine where it cannot be installed
(not root, no passwordless sudo, or no apt-get): one line that says so, and exit 0 so the
tests still run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "setup-test-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def run_setup(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CAPTUM_IGOS_SKIP_SETUP"}
    env["PATH"] = str(bin_dir)
    return subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_makefile_and_ci_run_the_one_setup_script():
    makefile = (ROOT / "Makefile").read_text()
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/setup-test-deps.sh" in test_target.split("pytest")[0], test_target
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "apt-get" not in ci  # one script, not two copies


def test_nothing_to_do_when_chromium_is_there(tmp_path):
    stub(tmp_path, "chromium", "exit 0")
    stub(tmp_path, "apt-get", "echo apt-get was called >&2; exit 1")
    done = run_setup(tmp_path)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""


@pytest.mark.parametrize("machine", ["not root, no sudo", "not root, sudo asks a password",
                                     "root, no apt-get"])
def test_one_line_when_it_cannot_install(tmp_path, machine):
    stub(tmp_path, "id", "echo 0" if machine.startswith("root") else "echo 1000")
    if "sudo" in machine and "no sudo" not in machine:
        stub(tmp_path, "sudo", "exit 1")  # sudo -n fails: a password would be needed
    done = run_setup(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "chromium missing and not installed" in lines[0], lines
    assert "report.html browser test will fail" in lines[0]


def test_installs_with_apt_get_as_root_without_asking(tmp_path):
    log = tmp_path / "apt.log"
    stub(tmp_path, "id", "echo 0")
    stub(tmp_path, "apt-get", f'echo "$DEBIAN_FRONTEND $*" >> {log}')
    done = run_setup(tmp_path)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "noninteractive update -qq"
    assert calls[1].startswith("noninteractive install -y") and calls[1].endswith("chromium")
