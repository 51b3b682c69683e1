"""A one-line layer specification, for the command line: ``"conv:20x5x5,pool:2,dense:100,
dropout:0.5,softmax:10"`` -> a list of layers for :class:`~nablanet.models.sequential.Sequential`.

Grammar (tokens separated by commas, each token ``kind[:size][:option]...``)::

    conv:FxK[xK2][:sS][:same|:valid|:pP][:ACT]   Conv2D, F filters of K x K (or K x K2);
                                                  stride S (1), padding (valid), ACT (relu)
    pool:P[xP2][:sS]                             MaxPool2D over P x P windows, stride S (P)
    dense:N[:ACT]                                Dense of N units, ACT (relu)
    dropout:R                                    Dropout of a fraction R, 0 <= R < 1
    flatten                                      Flatten (added by itself before a dense
                                                  layer that follows image layers)
    softmax:N                                    the output layer, last and required: a
                                                  linear Dense of N units whose softmax (with
                                                  the cross-entropy) belongs to the model

``ACT`` is one of ``relu``, ``tanh``, ``sigmoid``, ``identity``. Input channels and sizes
are inferred from ``input_shape`` layer by layer, so a bad combination (a kernel larger
than its input, say) is reported at the token that causes it.
"""

from __future__ import annotations

import re

import numpy as np

from nablanet.init import check_dtype
from nablanet.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D
from nablanet.serialization import MAX_PARAMS

__all__ = ["parse_layers"]

_ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")
_INT = r"[1-9][0-9]*"


def parse_layers(spec: str, input_shape, *, seed=None, dtype=np.float64) -> list[Layer]:
    """Build the layers that ``spec`` describes (grammar in the module docstring).

    Parameters
    ----------
    spec : str
        E.g. ``"conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,dropout:0.5,softmax:10"``.
    input_shape : tuple of int
        One sample's shape: ``(C, H, W)`` for images, ``(n_features,)`` for rows.
    seed : int or numpy.random.Generator, optional
        One Generator draws every layer's initial weights in order, then serves the
        dropout masks.
    dtype : float64 or float32

    Returns
    -------
    list of Layer
        The last one is the linear output layer of ``softmax:N``.

    Raises
    ------
    ValueError
        Naming the bad token and its position: an unknown kind or option, a malformed
        size, a layer that does not fit the shape before it, a layer of more than
        :data:`~nablanet.serialization.MAX_PARAMS` parameters (refused before anything
        is allocated), or a missing or misplaced ``softmax:N``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"layers: expected a specification such as "
                         f"'conv:20x5x5,pool:2,dense:100,softmax:10', got {spec!r}")
    dtype = check_dtype(dtype)
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in input_shape)
    tokens = [t.strip() for t in spec.split(",")]
    layers: list[Layer] = []
    for i, token in enumerate(tokens, start=1):
        where = f"layers: token {i} {token!r}"
        kind, *args = token.split(":")
        last = i == len(tokens)
        if (kind == "softmax") != last:
            raise ValueError(f"{where}: the specification must end with the output layer "
                             f"softmax:N, and only there")
        try:
            new = _build(kind, args, shape, rng, dtype)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        for layer in new:
            try:
                shape = layer.allocate((1, *shape))[1:]
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        layers += new
    return layers


def _build(kind: str, args: list[str], shape: tuple, rng, dtype) -> list[Layer]:
    """The layers of one token (a Flatten first where rows follow images)."""
    if kind == "conv":
        if len(shape) != 3:
            raise ValueError(f"conv needs image input (C, H, W), got samples of shape {shape}")
        size = _match(rf"({_INT})x({_INT})(?:x({_INT}))?", args[:1], "FxK or FxKxK2")
        f, kh = int(size[0]), int(size[1])
        kw = int(size[2]) if size[2] else kh
        opts = _options(args[1:], {"stride": rf"s({_INT})", "padding": r"same|valid|p(\d+)",
                                   "activation": "|".join(_ACTIVATIONS)})
        _check_params(f * (shape[0] * kh * kw + 1))
        pad = opts.get("padding", "valid")
        padding: str | int = pad if pad in ("same", "valid") else int(pad[1:])
        act = opts.get("activation", "relu")
        return [Conv2D(shape[0], f, (kh, kw), stride=int(opts.get("stride", "s1")[1:]),
                       padding=padding, activation=act, init=_init(act), seed=rng,
                       dtype=dtype)]
    if kind == "pool":
        size = _match(rf"({_INT})(?:x({_INT}))?", args[:1], "P or PxP2")
        pool = (int(size[0]), int(size[1] or size[0]))
        opts = _options(args[1:], {"stride": rf"s({_INT})"})
        stride = int(opts["stride"][1:]) if "stride" in opts else None
        return [MaxPool2D(pool, stride, dtype=dtype)]
    if kind in ("dense", "softmax"):
        n = int(_match(rf"({_INT})", args[:1], "N (units)")[0])
        allowed = {"activation": "|".join(_ACTIVATIONS)} if kind == "dense" else {}
        act = _options(args[1:], allowed).get("activation",
                                              "relu" if kind == "dense" else "identity")
        _check_params((int(np.prod(shape)) + 1) * n)
        flat = [Flatten(dtype=dtype)] if len(shape) > 1 else []
        return [*flat, Dense(int(np.prod(shape)), n, activation=act, init=_init(act),
                             seed=rng, dtype=dtype)]
    if kind == "dropout":
        rate = _match(r"(0(?:\.[0-9]*)?|\.[0-9]+)", args[:1], "R with 0 <= R < 1")[0]
        _options(args[1:], {})
        return [Dropout(float(rate), seed=rng, dtype=dtype)]
    if kind == "flatten":
        _options(args, {})
        return [Flatten(dtype=dtype)]
    raise ValueError(f"unknown layer kind {kind!r}; expected conv, pool, dense, dropout, "
                     f"flatten or softmax")


def _check_params(n: int) -> None:
    if n > MAX_PARAMS:
        raise ValueError(f"{n:,} parameters, more than the {MAX_PARAMS:,} a layer may have")


def _init(activation: str) -> str:
    """He for ReLU layers, Glorot for the rest (see :mod:`nablanet.init`)."""
    return "he" if activation == "relu" else "glorot"


def _match(pattern: str, args: list[str], expected: str) -> tuple:
    """The groups of ``args[0]`` fully matching ``pattern``."""
    found = re.fullmatch(pattern, args[0]) if args else None
    if found is None:
        raise ValueError(f"expected size {expected}, got {args[0] if args else 'nothing'!r}")
    return found.groups()


def _options(args: list[str], allowed: dict[str, str]) -> dict[str, str]:
    """Map each option of ``args`` to its name in ``allowed`` (name -> regex)."""
    opts: dict[str, str] = {}
    for arg in args:
        name = next((k for k, rx in allowed.items() if re.fullmatch(rx, arg)), None)
        if name is None or name in opts:
            what = "repeated option" if name else "unknown option"
            raise ValueError(f"{what} {arg!r}; expected "
                             f"{', '.join(allowed) if allowed else 'no options'}")
        opts[name] = arg
    return opts
