"""Sphinx configuration of the nablanet documentation (``make docs``).

The API reference is generated from the docstrings (numpydoc format) by autosummary,
walking every module of the package; the CLI reference from the click commands by
sphinx-click; the guide is the README, included as it is (MyST Markdown).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import nablanet  # noqa: E402  (after the path is set, for a build from a plain checkout)

project = "nablanet"
author = "The nablanet authors"
copyright = "2026, The nablanet authors"  # noqa: A001  (Sphinx's name)
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

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False  # members are documented by automodule, not listed twice
numpydoc_xref_param_type = False

myst_heading_anchors = 3
# The guide is the README: its links to files of the repository (benchmarks/, LICENSE)
# are not pages of this site.
suppress_warnings = ["myst.xref_missing"]

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
