"""Name registries: how a saved file, a config dict or a CLI option names a class.

Every registered thing is registered where it is defined, with the decorator::

    @register("layer", "Dense")
    class Dense(Layer): ...

and found again by ``get("layer", "Dense")``. A file or a config only ever holds the
*name*; it never chooses what Python imports. The kinds in use are ``"layer"``,
``"model"``, ``"activation"``, ``"loss"``, ``"initializer"``, ``"optimizer"`` and
``"schedule"``. This module is a leaf: it imports nothing from nablanet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["get", "name_of", "names", "register"]

T = TypeVar("T")

_REGISTRY: dict[str, dict[str, Any]] = {}


def register(kind: str, name: str | None = None) -> Callable[[T], T]:
    """Class or function decorator: register the object as ``name`` (default: its
    ``__name__``) under ``kind``.

    Raises
    ------
    ValueError
        If another object is already registered under the same kind and name.
    """

    def decorate(obj: T) -> T:
        key = name if name is not None else obj.__name__  # type: ignore[attr-defined]
        table = _REGISTRY.setdefault(kind, {})
        if key in table and table[key] is not obj:
            raise ValueError(f"{kind} {key!r} is already registered")
        table[key] = obj
        return obj

    return decorate


def get(kind: str, name: str) -> Any:
    """The object registered as ``name`` under ``kind``.

    Raises
    ------
    ValueError
        If nothing is registered under that name; the message lists the valid names.
    """
    table = _REGISTRY.get(kind, {})
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(f"{kind}: expected one of {sorted(table)}, got {name!r}") from None


def names(kind: str) -> list[str]:
    """The registered names of ``kind``, sorted."""
    return sorted(_REGISTRY.get(kind, {}))


def name_of(kind: str, obj: Any) -> str:
    """The name ``obj`` (a class or function) is registered under as ``kind``.

    Raises
    ------
    ValueError
        If ``obj`` is not registered under ``kind`` (a file could not name it).
    """
    for key, value in _REGISTRY.get(kind, {}).items():
        if value is obj:
            return key
    raise ValueError(f"{kind}: {getattr(obj, '__name__', obj)!r} is not registered; "
                     f"decorate it with @register({kind!r}, name)")
