"""The README runs as printed: every ```sh and ```python block of README.md, in order,
in one working directory laid out as a fresh clone after the Quickstart's two ``make``
commands (the machinery and its conventions: ``tests/doc_blocks.py``). The README's
Quickstart block is the only one not run."""

from __future__ import annotations

import pytest
from tests.doc_blocks import (
    ROOT,
    SHOWN,
    code_blocks,
    is_quickstart,
    require_examples_environment,
    run_page,
)


def test_readme_blocks_are_found():
    blocks = code_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    langs = {lang for _, lang, _ in blocks}
    assert langs == {"sh", "python"}
    assert sum(is_quickstart(code) for _, _, code in blocks) == 1
    assert not [line for line, _, code in blocks if "..." in code], "a '...' placeholder"


def test_readme_blocks_parse_fences():
    text = "a\n```sh\necho 1\n```\n\n```toml\nx = 1\n```\n```python\n# jv.py: x\nx = 1\n```\n"
    assert code_blocks(text) == [(2, "sh", "echo 1\n"), (9, "python", "# jv.py: x\nx = 1\n")]
    assert is_quickstart("make demo   # x\nmake test\n")
    assert not is_quickstart("make demo\nnablanet info\n")
    assert SHOWN.findall("print(x)   # 0.965\nprint(y)  # a comment\n") == ["0.965"]


@pytest.mark.slow
def test_readme_runs_as_printed(tmp_path):
    require_examples_environment()
    run_page("README.md", tmp_path)
