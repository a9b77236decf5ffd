"""The package installs from a wheel (a JupyterHub image, a course server): every sub-package
and every command is in it, not only in a clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from tp3.layout import REPO_ROOT


def test_the_wheel_holds_every_package_and_runs_every_command(tmp_path):
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "datasets", "origin_data", "logs", "predictions", ".tp3_cache", "build", "*.egg-info",
        "__pycache__", "models", "tensorboard_logs", "notebooks"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
                    str(source)], check=True, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("tp3-*.whl"))
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    # the dependencies from this environment (its site-packages, whose .pth files are not read
    # from PYTHONPATH: the clone's editable tp3 stays out), tp3 from the wheel
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {**os.environ, "PYTHONPATH": site}
    where = subprocess.run([python, "-c", "import tp3, tp3.tools.synth.tumour, tp3.tools.grading.judge, tp3.checks.record;"
                            "print(tp3.__file__)"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "env"), where.stdout
    commands = subprocess.run([python, "-m", "tp3", "--help"], env=env, cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout
    names = commands[commands.index("{") + 1:commands.index("}")].split(",")
    assert {"synth", "grade", "train", "prepare"} <= set(names)
    for name in names:
        result = subprocess.run([python, "-m", "tp3", name, "--help"], env=env, cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0 and "usage:" in result.stdout, (name, result.stderr[-500:])
