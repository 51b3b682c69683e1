"""Running the ``nablanet`` command in-process for a test, with its exit status and output."""

from __future__ import annotations

import logging

from nablanet.cli import main


def run(capsys, *args) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``nablanet ARGS`` run in-process; the
    ``nablanet`` logger's handlers are cleared first, so none is bound to an earlier
    test's captured stream."""
    logging.getLogger("nablanet").handlers.clear()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
