"""The notebook series as files: navigation current, outputs clean, code sound, Binder consistent.

Running the notebooks is nbval's job (``python -m pytest --nbval-lax notebooks/``); these checks
are static and take a second, so a stale index or a committed output fails before any kernel starts.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
import tomllib
from packaging.requirements import Requirement
from nbgrader.nbgraderformat import MetadataValidator
from packaging.version import Version

import ovnb
from ovnb import catalogs, exercises
from ovnb.staging import read_list

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BINDER = ROOT / "binder"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


nav = load(NOTEBOOKS / "tools" / "nav.py", "ovnb_notebook_nav")
outputs = load(NOTEBOOKS / "tools" / "outputs.py", "ovnb_notebook_outputs")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    return [c for c in read(path).cells if c.cell_type == "code"]


def python_of(source: str) -> str:
    """A code cell without its IPython magics, so that ``ast`` can read it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


@pytest.fixture(params=PATHS, ids=[p.name for p in PATHS])
def notebook(request: pytest.FixtureRequest) -> Path:
    return request.param


# --- the series and its navigation ---------------------------------------------------------------

def test_the_series_starts_at_00_and_has_no_gaps() -> None:
    numbers = [int(e.number) for e in nav.series()]
    assert numbers == list(range(len(numbers))) and len(numbers) >= 4
    assert PATHS[0].name == "00-index.ipynb"


def test_navigation_and_index_are_current() -> None:
    assert nav.stale() == [], "run: python notebooks/tools/nav.py"


def test_nav_cells_frame_each_notebook_and_link_existing_files(notebook: Path) -> None:
    cells = read(notebook).cells
    assert cells[1].id == "nav-top" and cells[-1].id == "nav-bottom"
    links = re.findall(r"\]\(([^)]+)\)", cells[1].source)
    assert links and all((NOTEBOOKS / link).is_file() for link in links)


def test_generated_cells_are_only_where_the_tool_puts_them(notebook: Path) -> None:
    """A copied navigation cell (pointing elsewhere) is not refreshed by the tool: none may stay."""
    for cell in read(notebook).cells:
        if nav.MARK in cell.source:
            assert cell.id in ("nav-top", "nav-bottom", "index"), f"stale generated cell {cell.id}"


def test_the_index_lists_every_other_notebook() -> None:
    index = next(c for c in read(PATHS[0]).cells if c.id == "index").source
    for path in PATHS[1:]:
        assert f"({path.name})" in index


def test_nav_tool_writes_and_detects_stale_cells(tmp_path: Path) -> None:
    for name, title in (("00-start.ipynb", "Start"), ("01-next-step.ipynb", "Next step")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}\n\nWhy.")])
        nbformat.write(nb, tmp_path / name)
    assert nav.write(tmp_path) == ["00-start.ipynb", "01-next-step.ipynb"]
    assert nav.stale(tmp_path) == []
    second = read(tmp_path / "01-next-step.ipynb")
    assert "◀ [00 · Start](00-start.ipynb)" in second.cells[1].source
    first = read(tmp_path / "00-start.ipynb")
    assert "[01 · Next step](01-next-step.ipynb)**: Why." in first.cells[2].source
    second.cells[0].source = "# Renamed\n\nWhy."
    nbformat.write(second, tmp_path / "01-next-step.ipynb")
    assert nav.stale(tmp_path) == ["00-start.ipynb"]  # its index and its link to 01


# --- outputs --------------------------------------------------------------------------------------

def test_no_outputs_except_in_checked_cells(notebook: Path) -> None:
    assert outputs.text_of(outputs.stripped(read(notebook))) == notebook.read_text(), \
        "run: python notebooks/tools/outputs.py (or --record NOTEBOOK for checked cells)"


def test_checked_cells_carry_their_reference_output(notebook: Path) -> None:
    for cell in code_cells(notebook):
        if outputs.checked(cell):
            assert cell.outputs, f"run: python notebooks/tools/outputs.py --record {notebook.name}"


def test_outputs_tool_keeps_only_checked_outputs() -> None:
    shown = nbformat.v4.new_output("stream", text="kept\n")
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('kept')", outputs=[shown],
                                        execution_count=3)
    other = nbformat.v4.new_code_cell("print('dropped')", execution_count=4,
                                      outputs=[nbformat.v4.new_output("stream", text="x\n")])
    nb = nbformat.v4.new_notebook(cells=[checked, other],
                                  metadata={"widgets": {"state": {}}})
    clean = outputs.stripped(nb)
    assert clean.cells[0].outputs == [shown] and clean.cells[1].outputs == []
    assert [c.execution_count for c in clean.cells] == [1, None]  # nbval skips "unrun" cells
    assert "widgets" not in clean.metadata


def test_no_absolute_paths(notebook: Path) -> None:
    text = notebook.read_text()
    found = re.findall(r"(?:/(?:home|root|tmp|Users|work|opt|var)/[\w.-]+|[A-Z]:\\\\[\w.-]+)", text)
    assert found == []


def test_sanitize_file_hides_timings_but_not_results() -> None:
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((NOTEBOOKS / "sanitize.cfg").read_text())
    text = "first token after 102 ms, then 3,118 tokens/s; 94.7 MB in /tmp/ovnb-export-x1 · True"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    assert text == "first token after DURATION, then DURATION; SIZE in TMPDIR · True"


# --- what the notebooks teach and how their code is written ---------------------------------------

def test_each_lesson_has_exercises_that_check_themselves(notebook: Path) -> None:
    """Every exercise is nbgrader's pair: a folded answer cell between solution markers, then a
    locked check cell with points (ovnb.exercises reads them; nbgrader grades them)."""
    if notebook == PATHS[0]:
        return
    nb = read(notebook)
    assert "## Exercises" in "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    found = exercises.exercises(notebook)
    assert [e.number for e in found] == list(range(1, len(found) + 1)) and found
    for exercise in found:
        assert exercise.points > 0
        assert exercise.answer.startswith("### BEGIN SOLUTION\n"), exercise.number
        assert exercise.answer.rstrip().endswith("### END SOLUTION"), exercise.number
    roles = [(n, role) for n, role, _, _ in exercises.cells(nb)]
    assert roles == [(e.number, role) for e in found for role in ("answer", "check")]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:  # answers folded as the solutions were; checks locked, as nbgrader keeps them
            assert cell.metadata.get("jupyter", {}).get("source_hidden", False) is meta["solution"]
            assert meta["locked"] is meta["grade"] is not meta["solution"]
    MetadataValidator().validate_nb(nb)
    text = "\n".join(c.source for c in nb.cells)
    assert "<summary>Solution</summary>" not in text
    assert text.count("<details>") == text.count("</details>")


def test_code_cells_are_valid_python(notebook: Path) -> None:
    for cell in code_cells(notebook):
        ast.parse(python_of(cell.source))


def test_ovnb_names_the_notebooks_use_exist(notebook: Path) -> None:
    """Catches a notebook left behind by a rename in the package, without running it."""
    for cell in code_cells(notebook):
        for node in ast.walk(ast.parse(python_of(cell.source))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ovnb"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"), f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "ovnb":
                assert hasattr(ovnb, node.attr), f"ovnb.{node.attr}"


def test_models_are_chosen_with_pickers_not_hard_coded(notebook: Path) -> None:
    ids = {entry["id"] for entry in catalogs.catalog()}
    sources = [cell.source for cell in code_cells(notebook)]
    for source in sources:
        literals = set(re.findall(r"[\"']([^\"']+)[\"']", source))
        assert not literals & ids, f"a model id in code: {literals & ids}"
    uses_models = any(re.search(r"ovnb\.prepare\(|Pipeline\(|ovnb\.Chat\(", s) for s in sources)
    assert not uses_models or any("ModelPicker(" in s for s in sources)


def test_commands_are_argument_lists(notebook: Path) -> None:
    for cell in code_cells(notebook):
        assert "shell=True" not in cell.source
        assert not re.search(r"subprocess\.\w+\(\s*[\"'f]", cell.source)
        assert ".split()" not in cell.source or "subprocess" not in cell.source


def test_data_files_are_listed_with_a_license() -> None:
    readme = (NOTEBOOKS / "data" / "README.md").read_text()
    assert "license" in readme.lower()
    for path in (NOTEBOOKS / "data").rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert path.name in readme
            assert path.stat().st_size < 2_000_000, f"{path.name}: keep samples small"


def test_the_overhead_table_notebook_10_charts_measures_every_widget() -> None:
    """A family's widget that lands unmeasured fails here: run benchmarks/overhead.py --save."""
    import json

    from ovnb.families import FAMILIES

    recorded = json.loads((NOTEBOOKS / "data" / "overhead.json").read_text())
    measured = {row["family"] for row in recorded["rows"] if "bare" in row}
    widgets = {front.split(":")[1] for family in FAMILIES for front in family.fronts}
    assert widgets - {"SpeculativeBench"} <= measured  # SpeculativeBench is itself a benchmark
    assert {row["models"] for row in recorded["rows"]} == {"tiny", "real"}


# --- how nbval runs them --------------------------------------------------------------------------

def test_kernels_run_with_the_hub_cut_off_on_the_shared_cache(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    conftest = load(NOTEBOOKS / "conftest.py", "ovnb_notebook_conftest")
    monkeypatch.delenv("OVNB_CACHE", raising=False)
    monkeypatch.delenv("OVNB_TINY", raising=False)
    monkeypatch.setenv("OVNB_TEST_CACHE", "/somewhere/cache")
    env = conftest.kernel_env()
    assert env["OVNB_TINY"] == "1" and env["HF_HUB_OFFLINE"] == "1"
    assert env["OVNB_CACHE"] == "/somewhere/cache"
    port = int(env["HF_ENDPOINT"].rsplit(":", 1)[1])
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", port))  # nobody listens: what no network looks like
    monkeypatch.setenv("OVNB_TINY", "0")  # real mode: only the closed port stands for the hub
    real = conftest.kernel_env()
    assert real["OVNB_TINY"] == "0" and "HF_HUB_OFFLINE" not in real
    monkeypatch.setenv("OVNB_CACHE", "/chosen")
    assert conftest.kernel_env()["OVNB_CACHE"] == "/chosen"


# --- Binder ---------------------------------------------------------------------------------------

def pyproject_pins() -> tuple[dict[str, Requirement], dict[str, Requirement]]:
    """(what running and exporting need: base + [export], and the [dev] tools)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def by_name(requirements: list[str]) -> dict[str, Requirement]:
        return {canonical(r.name): r for r in map(Requirement, requirements)}

    return by_name([*project["dependencies"], *extras["export"]]), by_name(extras["dev"])


def binder_lines() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def without_local(requirement: Requirement) -> str:
    """The specifier with any ``+local`` label dropped (``torch==2.13.0+cpu`` -> ``==2.13.0``)."""
    return ",".join(sorted(
        f"=={Version(s.version).public}" if s.operator == "==" else str(s)
        for s in requirement.specifier))


def test_binder_installs_what_pyproject_pins_at_the_same_versions() -> None:
    needed, dev = pyproject_pins()
    listed = [line for line in binder_lines() if not line.startswith(("-", "."))]
    binder = {canonical(r.name): r for r in map(Requirement, listed)}
    assert set(needed) <= set(binder), "Binder must install everything ovnb runs and exports with"
    # the UI and what an exercise answers with (16: a pydantic class), from [dev]; no test tools
    assert set(binder) - set(needed) == {"jupyterlab", "pydantic"}
    pins = {**dev, **needed}
    for name, requirement in binder.items():
        assert without_local(requirement) == without_local(pins[name]), name


def test_binder_installs_ovnb_from_the_repository_and_torch_for_cpu() -> None:
    lines = binder_lines()
    assert "-e ." in lines or "." in lines
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert any(line.startswith("torch==") and line.endswith("+cpu") for line in lines)


def test_binder_python_satisfies_requires_python() -> None:
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert Requirement(f"python{project['requires-python']}").specifier.contains(runtime[7:] + ".0")


def test_binder_scripts_are_executable_and_start_hands_over() -> None:
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK) and path.read_text().startswith("#!/bin/bash")
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')
    assert "binder/models.txt" in (BINDER / "postBuild").read_text()


def test_binder_stages_only_offline_models_that_fit() -> None:
    items = read_list(BINDER / "models.txt")
    wanted = {"HuggingFaceTB/SmolLM2-135M-Instruct", "openai/whisper-tiny.en"}
    assert wanted <= {model_id for model_id, _ in items}
    for model_id, precision in items:
        entry = catalogs.find(model_id)
        assert entry is not None, model_id
        kinds = {s["kind"] for s in entry["sources"]}
        assert kinds & {"tiny", "offline"}, f"{model_id} needs the hub"
        assert entry["binder_fit"], model_id
        assert catalogs.estimate(entry, precision)["ram_gb"] < catalogs.BINDER_RAM_GB
