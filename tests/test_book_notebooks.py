"""The chapter notebooks of ``examples/book/`` run from top to bottom (so they never
rot): each is executed by a Jupyter kernel running this Python, on the MNIST sample."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "examples" / "book"
NOTEBOOKS = sorted(p.name for p in BOOK.glob("*.ipynb"))


def test_one_notebook_per_chapter_without_stored_outputs():
    assert NOTEBOOKS == ["chapter1.ipynb", "chapter3.ipynb", "chapter5.ipynb",
                         "chapter6.ipynb"]
    for name in NOTEBOOKS:
        cells = json.loads((BOOK / name).read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and not any(c["outputs"] or c["execution_count"] for c in code), name


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, mnist_10k_dir, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    # The kernel is this Python, importing the nablanet this test imports.
    src = str(Path(__import__("nablanet").__file__).parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = super().get_kernel_spec(kernel_name)
            spec.argv = [sys.executable, "-m", "ipykernel_launcher", "-f",
                         "{connection_file}"]
            return spec

    nb = nbformat.read(BOOK / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name=NATIVE_KERNEL_NAME,
                                     resources={"metadata": {"path": str(BOOK)}})
    client.kernel_manager_class = _manager(ThisPython)
    client.execute()
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "no figure shown"


def _manager(spec_manager):
    from jupyter_client.manager import KernelManager

    class Manager(KernelManager):
        def __init__(self, **kwargs):
            super().__init__(kernel_spec_manager=spec_manager(), **kwargs)

    return Manager
