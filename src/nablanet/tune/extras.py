"""The optional dependencies of sweeps (the ``tune`` extra: Optuna, Dask, ...), imported
when a sweep runs, with the install hint when one is missing."""

from __future__ import annotations


def require(module: str):
    """Import ``module``; raise ImportError with the install hint when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"sweeps need {module.split('.')[0]}: "
                          "pip install 'nablanet[tune]'") from None
