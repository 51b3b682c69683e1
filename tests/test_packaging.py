"""Packaging: the labels a user sees (license, typing marker, extras) and a light core.

The core install must stay small (issue 16: under 130 MB in an empty virtualenv), so
every module imports at its top only the standard library, nablanet and the core
dependencies of ``pyproject.toml``; an extra's package is imported inside the function
that needs it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nablanet"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
DEVELOPER_EXTRAS = {"test", "bench", "docs"}  # tools for working on nablanet, not features


def requirement_name(requirement: str) -> str:
    """``'numpy>=1.26'`` -> ``'numpy'`` (the distribution name, normalised)."""
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def top_level_imports(path: Path) -> set[str]:
    """First components of the modules imported at module level (not in functions or
    under ``if TYPE_CHECKING``)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


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


@pytest.mark.parametrize(
    "module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_modules_import_only_the_core_at_their_top(module):
    core = {requirement_name(r) for r in PROJECT["dependencies"]}
    allowed = core | set(sys.stdlib_module_names) | {"nablanet", "__future__"}
    extra = top_level_imports(module) - allowed
    assert not extra, (
        f"{module.relative_to(ROOT)} imports {sorted(extra)} at module level: not a core "
        f"dependency; import it inside the function that needs it (with an install hint)"
    )
