"""Run a Markdown page's examples as printed: every ```sh and ```python block, in order,
in one working directory laid out as a fresh clone after the Quickstart's two ``make``
commands. ``tests/test_readme.py`` runs README.md with it, ``tests/test_guide.py`` each
page of ``docs/guide/``.

The working directory is a copy of the repository (without ``.git`` and virtualenvs)
next to a link to ``../shared`` (the real MNIST sample the examples use), with a
``.venv`` whose ``python``, ``nablanet`` and ``bin/activate`` run this test's Python on
the copy's ``src``. Shell blocks run with ``bash -e`` as one session: the environment
and the directory a block ends in carry over to the next (so ``source
.venv/bin/activate`` holds for the rest of the page; a guide page starts with it done, as
its reader has followed the install page). Python blocks run with ``.venv/bin/python``
from that directory; a block whose first line is ``# NAME.py: ...`` is also saved as
``NAME.py`` for later blocks to import. A block of ``make`` commands only (the
Quickstart: they install and then run this suite) is not run. ``print(x)  # 0.96`` in a
Python block is a shown output: the block's standard output must hold that line. A
failure names the block by its page and line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SAVED_AS = re.compile(r"#\s*([\w-]+\.py):")
#: ``print(...)  # 0.965``: a shown output, which the block's standard output must hold.
SHOWN = re.compile(r"^print\(.*\)\s+#\s*(-?[\d.]+)\s*$", re.M)
#: The modules the examples use between them: ``make test`` installs every extra.
EXTRAS_MODULES = ("aeon", "statsmodels", "matplotlib", "numba", "onnx", "onnxruntime",
                  "torch", "sklearn", "optuna", "distributed", "pandas", "polars",
                  "tensorboardX")


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(line, language, code)`` of each ```sh / ```python block of ``text``, in order;
    ``line`` is the 1-based line of the opening fence."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2))
            for m in FENCE.finditer(text) if m.group(1) in ("sh", "python")]


def is_quickstart(code: str) -> bool:
    """A block of ``make`` commands only (they would install and run this suite again)."""
    lines = [ln for ln in code.splitlines() if ln.strip()]
    return bool(lines) and all(ln.lstrip().startswith("make ") for ln in lines)


def require_examples_environment() -> None:
    """Skip unless every extra the examples use is installed and the MNIST sample is
    next to the repository, as after ``make test``."""
    for module in EXTRAS_MODULES:
        pytest.importorskip(module, reason="the examples use every extra: make test")
    if not (SHARED / "data" / "mnist-10k").is_dir():
        pytest.skip(f"the real MNIST sample is not at {SHARED / 'data' / 'mnist-10k'}")


def _workdir(tmp: Path, activated: bool) -> tuple[Path, dict]:
    """A copy of the repository at ``tmp/nablanet``, ``tmp/shared`` linked to the real
    one, a ``.venv`` running this Python on the copy's ``src``; and the environment."""
    work = tmp / "nablanet"
    shutil.copytree(ROOT, work, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
        "_build", "build", "dist", "*-tune"))
    (tmp / "shared").symlink_to(SHARED)
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    py = shlex.quote(sys.executable)
    scripts = {
        "python": f'#!/bin/sh\nexec {py} "$@"\n',
        "nablanet": f'#!/bin/sh\nexec {py} -m nablanet "$@"\n',
        "activate": f'export PATH={shlex.quote(str(bin_dir))}:"$PATH"\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env.update(PYTHONPATH=str(work / "src"), MPLBACKEND="Agg", PWD=str(work))
    if activated:
        env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    return work, env


def _read_env(path: Path) -> dict:
    return dict(item.split("=", 1) for item in path.read_text().split("\0") if "=" in item)


def run_page(page: str, tmp_path: Path, *, activated: bool = False) -> None:
    """Run the blocks of ``page`` (a path relative to the repository root) in order in a
    fresh working directory under ``tmp_path``; fail naming the first block that exits
    non-zero or does not print what it shows."""
    work, env = _workdir(tmp_path, activated)
    env_file = tmp_path / "env"
    for line, lang, code in code_blocks((work / page).read_text(encoding="utf-8")):
        if is_quickstart(code):
            continue
        cwd = Path(env["PWD"])
        if lang == "sh":
            script = f"{code}\nenv -0 > {shlex.quote(str(env_file))}\n"
            cmd = ["bash", "-e", "-c", script]
        else:
            saved = SAVED_AS.match(code)
            path = cwd / (saved.group(1) if saved else f"block_line_{line}.py")
            path.write_text(code, encoding="utf-8")
            cmd = [str(work / ".venv" / "bin" / "python"), path.name]
        start = time.perf_counter()
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        print(f"{page} line {line} ({lang}): {time.perf_counter() - start:.1f} s")
        if result.returncode != 0:
            pytest.fail(f"{page} line {line}: the ```{lang} block exited with "
                        f"{result.returncode}\n--- block ---\n{code}--- stdout ---\n"
                        f"{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-3000:]}")
        lines = result.stdout.splitlines()
        for shown in SHOWN.findall(code) if lang == "python" else []:
            assert shown in lines, f"{page} line {line}: shows {shown}, printed {lines}"
        if lang == "sh":
            env = _read_env(env_file)
