"""Packaging: the labels a user sees (license, typing marker, extras) and a light core.

The core install must stay small (issue 16: under 130 MB in an empty virtualenv), so
the library and its command line load only the standard library and the core
dependencies of ``pyproject.toml``; an extra's package is imported inside the function
that needs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nablanet"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DEVELOPER_EXTRAS = {"test", "bench", "docs"}  # tools for working on nablanet, not features
INTEGRATION_MODULES: set[str] = {  # modules that may import their extra at the top
    "nablanet.interop.onnx", "nablanet.interop.torch", "nablanet.sklearn",
}


def requirement_name(requirement: str) -> str:
    """``'numpy>=1.26'`` -> ``'numpy'`` (the distribution name, normalised)."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def core_import_names() -> set[str]:
    """Top-level import names of the core dependencies and of everything they require."""
    closure: set[str] = set()
    todo = [requirement_name(r) for r in PROJECT["dependencies"]]
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [requirement_name(r) for r in requires if "extra" not in r.partition(";")[2]]
    return {
        module
        for module, dists in metadata.packages_distributions().items()
        if any(requirement_name(d) in closure for d in dists)
    } | closure


def test_license_and_typing_marker_are_shipped():
    assert PROJECT["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (PACKAGE / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in package_data["tool"]["setuptools"]["package-data"]["nablanet"]
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert {"Source", "Issues", "Documentation"} <= set(PROJECT["urls"])


def test_all_extra_covers_every_user_facing_extra():
    extras = PROJECT["optional-dependencies"]
    (combined,) = extras["all"]
    included = set(re.fullmatch(r"nablanet\[(.*)\]", combined)[1].split(","))
    assert included == set(extras) - DEVELOPER_EXTRAS - {"all"}


def test_every_module_imports_with_the_core_dependencies_only():
    """Importing any module of the package (in a fresh interpreter) loads no optional
    package: extras are imported inside the functions that need them. A module that
    exists to integrate one package may import it at its top: list it in
    ``INTEGRATION_MODULES``."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import nablanet\n"
        "loaded = {}\n"
        "for info in pkgutil.walk_packages(nablanet.__path__, 'nablanet.'):\n"
        "    if info.name.endswith('__main__'):\n"
        "        continue\n"
        "    before = set(sys.modules)\n"
        "    try:\n"
        "        importlib.import_module(info.name)\n"
        "    except ImportError as exc:\n"
        "        loaded[info.name] = ['ImportError: ' + str(exc)]\n"
        "        continue\n"
        "    loaded[info.name] = sorted({m.split('.')[0] for m in set(sys.modules) - before})\n"
        "print(json.dumps(loaded))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = json.loads(done.stdout.splitlines()[-1])
    allowed = core_import_names() | set(sys.stdlib_module_names) | {"nablanet"}
    assert "nablanet.datasets.sequences" in loaded  # the walk reached the subpackages
    offenders = {
        module: optional
        for module, names in loaded.items()
        if module not in INTEGRATION_MODULES
        and (optional := [n for n in names if n not in allowed and not n.startswith("_")])
    }
    assert not offenders, f"modules loading optional packages at import: {offenders}"
