"""The house: what depends on what, names defined once, every Ex N traceable, the docs' links."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from tp3 import layout
from tp3.layout import REPO_ROOT

PACKAGE = REPO_ROOT / "tp3"
#: The modules of the exercises and what they stand on: never the instructor tools, nor the
#: notebooks' layer above them.
EXERCISE_MODULES = ("augment", "callbacks", "checks", "config", "data", "files", "layout", "metrics", "modelfile",
                    "pipeline", "precision", "predict", "preprocessing", "runtime", "settings", "tblogs", "training",
                    "unet", "viewer", "viz")


def _imported_modules(path: Path) -> set[str]:
    """Every ``tp3`` module a file imports, at the top or inside a function, as absolute names."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "tp3" or name.startswith("tp3.")}


def _module_files(module: str) -> list[Path]:
    """A module's file, or every file of a package."""
    single = PACKAGE / f"{module}.py"
    return [single] if single.is_file() else sorted((PACKAGE / module).glob("*.py"))


@pytest.mark.parametrize("module", EXERCISE_MODULES)
def test_exercise_modules_do_not_import_the_tools_or_the_notebook_layer(module):
    files = _module_files(module)
    assert files, f"tp3.{module} is neither a module nor a package"
    imported = set().union(*(_imported_modules(path) for path in files))
    assert not [name for name in imported if name.startswith(("tp3.tools", "tp3.course"))], imported


def test_the_notebook_layer_uses_one_tool_only():
    tools = {name for name in _imported_modules(PACKAGE / "course.py") if name.startswith("tp3.tools")}
    assert tools <= {"tp3.tools.sample", "tp3.tools.sample.ensure_sample"}


def _string_constants(path: Path) -> list[str]:
    """The string literals of a module's code (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _package_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "layout.py")


def test_the_course_layout_is_spelled_in_layout_only():
    """Folder names, the five volumes, the splits and the file names are defined once (tp3/layout.py)."""
    names = {layout.DATASETS, layout.ORIGIN_DATA, layout.REFERENCE_LOGS, layout.PREPARE_MANIFEST,
             layout.SAMPLE_RECORD, layout.SAMPLE_CACHE, "_{z:03d}", "[0-9][0-9][0-9]"}
    defined = {"MODALITIES", "LABEL_SUFFIX", "VOLUMES", "SPLITS", "COLAB_ROOT", "REPO_ROOT"}
    for path in _package_files():
        spelled = [s for s in _string_constants(path) if s in names or any(n in s for n in ("_{z:03d}", "[0-9][0-9][0-9]"))]
        assert not spelled, f"{path.relative_to(REPO_ROOT)} spells the course layout: {spelled}"
        assigned = {target.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
        assert not assigned & defined, f"{path.relative_to(REPO_ROOT)} defines {assigned & defined}"


def _exercises_named(text: str) -> set[int]:
    """Exercise numbers in 'Ex 7', 'Ex 1-4', 'Ex 11–13', 'Ex 7, 11' or 'Ex 8-9, Ex 10'."""
    numbers = set()
    for match in re.finditer(r"\bEx (\d+(?:\s*[-–]\s*\d+)?(?:,\s*\d+(?:\s*[-–]\s*\d+)?)*)", text):
        for item in match.group(1).split(","):
            bounds = [int(v) for v in re.split(r"[-–]", item)]
            numbers.update(range(bounds[0], bounds[-1] + 1))
    return numbers


def _notebook_exercises() -> set[int]:
    found = set()
    for path in (REPO_ROOT / "notebooks" / "solutions").glob("*.ipynb"):
        for cell in nbformat.read(str(path), as_version=4).cells:
            if cell.cell_type == "markdown":
                found.update(int(n) for n in re.findall(r"^#+ Exercise (\d+)\b", cell.source, re.M))
    return found


def test_every_exercise_a_module_names_is_in_the_notebooks_and_back():
    """d2l's traceability: each module's "Ex N -> function" map points at exercises that exist,
    and every exercise of the notebooks is named by some module's map."""
    in_notebooks = _notebook_exercises()
    assert in_notebooks == set(range(1, 14))
    named = {}
    for path in _package_files():
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        for number in _exercises_named(docstring):
            named.setdefault(number, []).append(path.relative_to(REPO_ROOT).as_posix())
    assert not set(named) - in_notebooks, {n: named[n] for n in set(named) - in_notebooks}
    assert not in_notebooks - set(named), f"exercises no module names: {sorted(in_notebooks - set(named))}"


def test_exercise_numbers_are_read_as_written():
    assert _exercises_named("Ex 1-4 and Ex 7, 11; Ex 11–13") == {1, 2, 3, 4, 7, 11, 12, 13}


DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_links_of_the_readme_and_docs_resolve(page):
    text = page.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^(https?:|mailto:)", target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", resolved.read_text(), re.M)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def test_the_readme_fits_two_screens_and_every_page_is_linked():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    index = (REPO_ROOT / "docs" / "README.md").read_text()
    for page in DOCS[1:]:
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"


#: A module longer than this says why in its opening docstring ("Longer than ...").
MAX_MODULE_LINES = 320


def test_modules_are_short_or_say_why_they_are_not():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES:
            docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
            if "Longer than" not in docstring:
                long.append(path.relative_to(REPO_ROOT).as_posix())
    assert not long, f"modules over {MAX_MODULE_LINES} lines without a reason in their docstring: {long}"
