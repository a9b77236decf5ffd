"""The notebooks' first cell as Colab runs it: clone the kit, install it, build the data, go on.

Colab is stood in for by a ``google.colab`` module; the kit's URL by a local clone
(``file://``); ``/content/TP3`` by a temporary folder (replaced in the cell's text, and
``TP3_ROOT`` pointing there, since ``tp3.settings`` resolves ``/content/TP3`` on Colab); the
runtime by a throwaway virtual environment that sees this one's packages (a ``.pth`` file)
but not its kit, into which the cell's ``pip install -e`` installs the clone for real,
without dependencies (``PIP_NO_DEPS``) to stay quick: the compatibility matrix proves the
dependencies on Colab's stacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import types
import venv

import nbformat
import pytest

from tp3.layout import COLAB_ROOT, REPO_ROOT
from tp3.tools.notebooks import SOLUTIONS

PLACEHOLDER_URL = "https://github.com/YOUR-ORG/TP3.git"

#: Run in a fresh interpreter, outside the repository: Colab's "notebook", cell after cell.
COLAB_SESSION = textwrap.dedent("""
    import json, sys, types
    sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab's kernel has imported
    namespace = {}
    for source in json.loads(sys.argv[1]):
        exec(compile(source, "<cell>", "exec"), namespace)
    tp3 = namespace["tp3"]
    print("kit imported from", tp3.__file__)
    print("root", namespace["ROOT"])
""")


def _cells(name: str) -> list[str]:
    return [cell.source for cell in nbformat.read(str(SOLUTIONS / name), as_version=4).cells
            if cell.cell_type == "code"]


def _colab_runtime(folder) -> str:
    """A virtual environment with pip whose other packages are this environment's; its Python."""
    venv.create(folder, with_pip=True)
    site = next((folder / "lib").glob("python*/site-packages"))
    # A folder named in a .pth file is searched, but its own .pth files (this kit's editable
    # install among them) are not run: only the clone the cell installs provides tp3.
    (site / "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(folder / "bin" / "python")


def _on_colab(source: str, kit_url: str, target) -> str:
    """The setup cell with the kit's URL and Colab's folder replaced, and nothing else."""
    assert source.count(PLACEHOLDER_URL) == 1 and str(COLAB_ROOT) in source
    return source.replace(PLACEHOLDER_URL, kit_url).replace(str(COLAB_ROOT), str(target))


@pytest.mark.skipif(not (REPO_ROOT / ".git").exists(), reason="needs the kit's git repository to clone")
def test_setup_cell_clones_installs_builds_and_the_notebook_goes_on(tmp_path):
    target = tmp_path / "content" / "TP3"
    setup, exercise_1, check_1 = _cells("01_data.ipynb")[:3]
    assert "check_ex1" in check_1
    cells = [_on_colab(setup, f"file://{REPO_ROOT}", target), exercise_1, check_1]
    env = {**os.environ, "TP3_ROOT": str(target), "TP3_SMOKE": "1", "TP3_SAMPLE_PATIENTS": "4",
           "PIP_NO_DEPS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    python = _colab_runtime(tmp_path / "runtime")
    run = subprocess.run([python, "-c", COLAB_SESSION, json.dumps(cells)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out = run.stdout
    assert "Downloading the kit and installing what it needs" in out
    assert (target / "tp3" / "__init__.py").is_file() and (target / ".git").is_dir()  # cloned
    assert f"kit imported from {target / 'tp3' / '__init__.py'}" in out  # the clone's kit, not this one
    installed = subprocess.run([python, "-m", "pip", "show", "-f", "tp3"], capture_output=True, text=True).stdout
    assert "Editable project location: " + str(target) in installed
    assert (target / "datasets" / "train.txt").is_file() and "Course root:" in out  # data built
    assert "First 5 train patients:" in out and "✅" in out  # the next cells ran, the check passed


def test_placeholder_url_stops_with_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    setup = _cells("01_data.ipynb")[0]
    assert not (COLAB_ROOT / "tp3").is_dir()
    with pytest.raises(SystemExit, match="^KIT_URL above is still the placeholder: ask your instructor"):
        exec(setup, {})
