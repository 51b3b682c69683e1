"""Sphinx configuration of the nablanet documentation (``make docs``).

The API reference is generated from the docstrings (numpydoc format) by autosummary,
walking every module of the package; the CLI reference from the click commands by
sphinx-click; the guide is the MyST Markdown pages of ``guide/`` (their examples run in
``tests/test_guide.py``).

The site builds from the ``docs`` extra alone (``make docs``; CI builds it from a
virtualenv without PyTorch): the optional integrations that are not installed are mocked
for autodoc, so the modules that import them at the top (``nablanet.interop.torch``,
``nablanet.interop.onnx``, ``nablanet.sklearn``, the Numba kernels, ...) are documented
all the same. An installed integration is imported for real.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import nablanet  # noqa: E402  (after the path is set, for a build from a plain checkout)

project = "nablanet"
author = "The nablanet authors"
copyright = "2026, The nablanet authors"
release = nablanet.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

#: The packages of nablanet's optional extras (and PyTorch) that nablanet's modules import.
OPTIONAL = ["numba", "scipy", "matplotlib", "onnx", "onnxruntime", "torch", "sklearn",
            "optuna", "dask", "distributed", "tensorboardX", "pandas", "polars", "aeon",
            "statsmodels"]
autodoc_mock_imports = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False  # members are documented by automodule, not listed twice
numpydoc_xref_param_type = False

myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"nablanet {release}"
html_static_path: list[str] = []


def _skip_metadata_request_setters(app, what, name, obj, skip, options):
    """Leave out the ``set_*_request`` methods scikit-learn generates on the estimators of
    :mod:`nablanet.sklearn`: their docstrings link into scikit-learn's own documentation."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request_setters)
