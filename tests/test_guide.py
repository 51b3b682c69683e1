"""The guide runs as printed: each page of ``docs/guide/`` is a test, its ```sh and
```python blocks run in order in a fresh working directory laid out as a clone after
``make demo`` and ``make test``, with the virtualenv activated as the install page says
(the machinery and its conventions: ``tests/doc_blocks.py``). A new page is tested by
being there; the site's table of contents must list it."""

from __future__ import annotations

import re

import pytest
from tests.doc_blocks import ROOT, code_blocks, require_examples_environment, run_page

GUIDE = ROOT / "docs" / "guide"
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in GUIDE.glob("*.md"))
#: Paths of a developer's machine, which no page of the documentation may print.
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|tmp|root|home|Users)/")


def test_every_page_is_in_the_table_of_contents():
    index = (ROOT / "docs" / "index.rst").read_text(encoding="utf-8")
    listed = re.findall(r"^\s+(guide/[\w-]+)\s*$", index, re.M)
    assert sorted(f"docs/{name}.md" for name in listed) == PAGES


@pytest.mark.parametrize("page", [*PAGES, "README.md"])
def test_no_path_of_a_developers_machine(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    assert not MACHINE_PATH.findall(text), f"{page}: {MACHINE_PATH.findall(text)}"


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks_have_no_placeholder(page):
    blocks = code_blocks((ROOT / page).read_text(encoding="utf-8"))
    assert not [line for line, _, code in blocks if "..." in code], "a '...' placeholder"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_runs_as_printed(page, tmp_path):
    require_examples_environment()
    run_page(page, tmp_path, activated=True)
