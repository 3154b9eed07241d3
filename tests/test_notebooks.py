"""Every notebook in notebooks/ runs top to bottom without an error.

Each is executed with nbclient on a python3 kernel, from notebooks/ (its paths to ../topologies are
relative), on a copy in memory: the committed outputs are never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT = 120  # seconds per cell


def notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_seven_notebooks():
    assert [p.name[:3] for p in notebooks()] == ["01-", "02-", "03-", "04-", "05-", "06-", "07-"]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_without_error(path):
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    images = sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
                 for output in cell.get("outputs", []))
    assert images >= 1, "every notebook shows at least one figure"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_committed_notebook_has_outputs_and_small_figures(path):
    """Committed executed, so that it reads on GitHub; figures at 80 dpi keep the files small."""
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code), "commit the notebook executed"
    assert not [o for cell in code for o in cell.outputs if o.get("output_type") == "error"]
    assert path.stat().st_size < 600_000
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")
