"""Dependency-free source code for a trained model: Rust (:mod:`.rust`, ``std`` only)
and C99 (:mod:`.c`, ``<math.h>`` only), from one model walk (:mod:`.walk`).

:func:`generate` gives the files' texts; ``nablanet export -o model.rs`` (or ``.c``)
writes them. The generated ``predict`` equals the model's ``predict_proba`` to rounding
(the tests compile it and compare: 1e-12 in float64, 1e-5 in float32).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace

from nablanet.interop.codegen import image_scorer, scorer
from nablanet.interop.codegen.c import to_c
from nablanet.interop.codegen.rust import to_rust
from nablanet.interop.codegen.walk import Plan, plan

__all__ = ["FORMATS", "Plan", "generate", "plan"]

#: format -> file suffix of the main file
FORMATS = {"rust": ".rs", "c": ".c"}


def generate(model, fmt: str, *, name: str = "model", program: bool = False,
             input_shape=None, scaler=None, task: str | None = None,
             threshold: float | None = None) -> dict[str, str]:
    """The source files of ``model`` in ``fmt``.

    Parameters
    ----------
    model : Sequential (``Network``, convolutional stacks), RNN, LSTM or GRU
    fmt : ``"rust"`` or ``"c"``
    name : str, default ``"model"``
        The C file's stem, for its ``#include "<name>.h"`` (letters, digits, ``_``, ``-``
        and ``.`` only).
    program : bool, default False
        Add a ``main``: for a recurrent model (needs ``task``), a scorer reading a
        sequence CSV and writing what ``nablanet rnn predict`` writes
        (:mod:`.scorer`); for an image classifier, one reading a ``.npy`` file of
        images and writing the labels ``nablanet predict`` writes (:mod:`.image_scorer`).
    input_shape, task, threshold :
        See :func:`nablanet.interop.codegen.walk.plan`.
    scaler : MinMaxScaler, optional
        Deprecated (a DeprecationWarning; removed in the next release): give the model
        its scaling layers instead (``input_scaling=scaler.feature_layer()``, for
        regression ``output_scaling=scaler.label_layer()``), which the generated code
        applies. Taken, for a model without them, as those (on a copy of the model).

    Returns
    -------
    dict
        File suffix (``".rs"``; ``".c"`` and ``".h"``) -> text.

    Raises
    ------
    ValueError
        For an unknown format, a bad ``name``, a model with no generated form, or
        ``program`` for a model it cannot serve (naming what is missing).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {list(FORMATS)}, got {fmt!r}")
    if scaler is not None:
        warnings.warn("generate(scaler=) is deprecated: give the model input_scaling= and "
                      "output_scaling= (nablanet.layers.MinMaxScaling); scaler= will be "
                      "removed in the next release", DeprecationWarning, stacklevel=2)
        model = copy.copy(model)
        if model.input_scaling is None:
            model.input_scaling = scaler.feature_layer()
        if task == "regression" and model.output_scaling is None:
            model.output_scaling = scaler.label_layer()
    p = plan(model, input_shape=input_shape, task=task, threshold=threshold)
    main = None
    if program and p.recurrent:
        if p.task is None:
            raise ValueError("--program: a scorer needs a recurrent model saved by "
                             "'nablanet rnn train' (its task and threshold)")
        main = scorer.rust_program(p) if fmt == "rust" else scorer.c_program(p)
    elif program:
        decided, at = image_scorer.decision(model, p.n_outputs)
        p = replace(p, task=decided, threshold=at)
        main = image_scorer.rust_program(p) if fmt == "rust" else image_scorer.c_program(p)
    if fmt == "rust":
        return {".rs": to_rust(p, program=main)}
    return to_c(p, name, program=main)
