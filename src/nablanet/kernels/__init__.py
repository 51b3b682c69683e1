"""Compiled training kernels (Numba) for the small-batch regime.

At a mini-batch of 10 images or of one sequence, NumPy's cost is not arithmetic but
dispatch: every array operation costs about a microsecond of Python and ufunc set-up,
and a training step is dozens of them. These kernels run *many mini-batches per call*
in compiled code: gather, forward pass, backward pass and the plain SGD update, fused,
with the same equations and the same operation order as the NumPy reference path
(:class:`nablanet.models.Network`, :class:`nablanet.layers.recurrent.RNNLayer`), so
that both give the same weights to rounding (tests check 1e-12 in float64).

- :func:`~nablanet.kernels.mlp.mlp_sgd_epoch`: feedforward network, any depth; matrix
  products through BLAS (``np.dot`` inside Numba), elementwise work in loops.
- :func:`~nablanet.kernels.rnn.rnn_sgd_epoch`: one-layer vanilla RNN with a dense output
  at every step or at the last valid step; everything in plain loops (the matrices are
  too small for BLAS).
- :mod:`~nablanet.kernels.cells`: the LSTM and GRU cells' forward and BPTT steps.
- :mod:`~nablanet.kernels.conv`: the convolution layer's passes around its products
  (bias, activation and transposition; col2im) and 2x2 max-pooling.

All are optional: Numba is the ``fast`` extra (``pip install 'nablanet[fast]'``).
``AVAILABLE`` says whether it imported. Kernels compile on first use (a few seconds)
and are cached on disk (``cache=True``), so later processes load them in milliseconds.

This package holds the choice of backend, the one explicit table of the kernels
(:func:`kernel_table`, :func:`run`, :data:`CELL_STEPS`); one module per model family
holds its kernels, and :mod:`~nablanet.kernels.scalar` what they share.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import mmap
import re
import sys
import time
from collections.abc import Callable

from nablanet.kernels import cells, conv, mlp, rnn, scalar
from nablanet.kernels.scalar import FASTMATH

__all__ = [
    "ACT_CODES",
    "AVAILABLE",
    "BACKENDS",
    "CELL_STEPS",
    "DELTA_COMBINED",
    "DELTA_QUADRATIC",
    "FASTMATH",
    "LAYER_PASSES",
    "kernel_table",
    "run",
    "use_numba",
]

log = logging.getLogger(__name__)

#: whether Numba is installed (imported, and the kernels compiled, only when first used)
AVAILABLE = importlib.util.find_spec("numba") is not None

#: activation name -> code used inside the kernels
ACT_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "softmax": 4}
#: output-layer error: (a - y) * f'(z) (quadratic cost) or a - y (cross-entropies)
DELTA_QUADRATIC, DELTA_COMBINED = 0, 1

_reported: set[str] = set()
_TABLE: dict[str, Callable] = {}  # filled by kernel_table()

BACKENDS = ("auto", "numpy", "numba")


def use_numba(backend: str, unsupported: str | None, batch_size: int, auto_max_batch: int) -> bool:
    """Decide whether a ``fit`` runs the compiled kernels.

    ``backend="numpy"`` never, ``"numba"`` always (or an error saying why it cannot),
    ``"auto"`` when Numba is installed, the model is supported and the mini-batch is at
    most ``auto_max_batch`` (above it, BLAS on whole batches wins: see the benchmarks).
    When the answer is yes, the kernels' table is made (:func:`kernel_table`).

    Raises
    ------
    ValueError
        For an unknown backend, or ``"numba"`` for a configuration the kernels do not
        cover (``unsupported`` says which).
    ImportError
        For ``"numba"`` without Numba installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend == "numpy":
        return False
    if backend == "numba":
        if unsupported:  # first: true whether or not Numba is installed
            raise ValueError(f"backend 'numba' does not cover this model: {unsupported}; "
                             "use backend 'numpy' or 'auto'")
        if not AVAILABLE:
            raise ImportError("backend 'numba' needs Numba: pip install 'nablanet[fast]'")
    elif not (AVAILABLE and unsupported is None and batch_size <= auto_max_batch):
        return False
    kernel_table()  # loads the BLAS the kernels call now, so that fit's thread limit reaches it
    return True


def plain_sgd_unsupported(optimizer) -> str | None:
    """Why the kernels (plain SGD only) cannot run ``optimizer``, or None."""
    from nablanet.optimizers import SGD

    if type(optimizer) is not SGD or optimizer.momentum or optimizer.weight_decay \
            or optimizer.clip_norm is not None:
        return f"the kernels do plain SGD only, not {optimizer!r}"
    return None


def delta_mode(loss, output_activation) -> int | None:
    """Kernel code of the output-layer error, or None if not covered."""
    if loss.name == "quadratic" and output_activation.name != "softmax":
        return DELTA_QUADRATIC
    if loss.name in ("binary_cross_entropy", "cross_entropy"):
        return DELTA_COMBINED
    return None


def kernel_table() -> dict[str, Callable]:
    """The one explicit table of the kernels :func:`run` can call, by name, compiled:
    ``mlp_sgd_epoch`` serves :class:`nablanet.models.Network` (plain SGD, any depth),
    ``rnn_sgd_epoch`` serves :class:`nablanet.models.RNN` (one vanilla layer, plain SGD),
    ``lstm_forward``/``lstm_backward`` and ``gru_forward``/``gru_backward`` the steps of
    :class:`~nablanet.layers.recurrent.LSTMLayer` and ``GRULayer`` (through
    :data:`CELL_STEPS`; any depth, any optimizer), ``conv_output``/``conv_delta``/
    ``col2im`` the passes of :class:`~nablanet.layers.conv.Conv2D`,
    ``pool2_forward``/``pool2_backward`` those of :class:`~nablanet.layers.pool.MaxPool2D`
    (through :data:`LAYER_PASSES`). The first call imports Numba and wraps the kernels
    (each compiles, or loads from the disk cache, on its first call). A new kernel is
    one entry here and its line in its module's ``jit``.

    Raises
    ------
    ImportError
        Without Numba.
    """
    if not _TABLE:
        _jit_all()
        _TABLE.update(mlp_sgd_epoch=mlp.mlp_sgd_epoch, rnn_sgd_epoch=rnn.rnn_sgd_epoch,
                      lstm_forward=cells.lstm_forward, lstm_backward=cells.lstm_backward,
                      gru_forward=cells.gru_forward, gru_backward=cells.gru_backward,
                      conv_output=conv.conv_output, conv_delta=conv.conv_delta,
                      col2im=conv.col2im, pool2_forward=conv.pool2_forward,
                      pool2_backward=conv.pool2_backward)
    return _TABLE


def run(name: str, *args):
    """Call the kernel ``name`` of :func:`kernel_table`. The first call of a kernel in a
    process compiles it, or loads it from the disk cache; that time is logged once.

    Raises
    ------
    ValueError
        For a name that is not in the table (the message lists the names).
    """
    table = _TABLE or kernel_table()
    kernel = table.get(name)
    if kernel is None:
        raise ValueError(f"kernel: expected one of {sorted(table)}, got {name!r}")
    if name in _reported:
        return kernel(*args)
    start = time.perf_counter()
    out = kernel(*args)
    _reported.add(name)
    _release_llvm_pages()  # loading ran LLVM: its code is not needed again for this kernel
    log.info("numba: %s ready in %.2f s (compiled, or loaded from the disk cache)", name,
             time.perf_counter() - start)
    return out


def _lstm_steps_forward(layer, X, buf, T):
    run("lstm_forward", X, layer.W_x, layer.W_h, layer.b, buf.H, buf.C, buf.G[:T], buf.TC,
        buf.dG[0])


def _lstm_steps_backward(layer, X, dH, buf, T, dX):
    run("lstm_backward", X, dH, layer.W_x, layer.W_h, buf.H, buf.C, buf.G, buf.TC,
        buf.dG[:T], buf.dc, buf.carry, *layer.grads, X if dX is None else dX, dX is not None)


def _gru_steps_forward(layer, X, buf, T):
    run("gru_forward", X, layer.W_x, layer.W_h, layer.b_x, layer.b_h, buf.H, buf.GX[:T],
        buf.GH[:T])


def _gru_steps_backward(layer, X, dH, buf, T, dX):
    run("gru_backward", X, dH, layer.W_x, layer.W_h, buf.H, buf.GX, buf.GH, buf.dGx[:T],
        buf.dGh[:T], buf.carry, *layer.grads, X if dX is None else dX, dX is not None)


#: a recurrent layer's ``kernel`` name -> the compiled ``(steps_forward(layer, X, buf,
#: T), steps_backward(layer, X, dH, buf, T, dX))`` that replace its NumPy recurrence
#: (same buffers, same results to 1e-12; :class:`nablanet.layers.recurrent.Recurrent`)
CELL_STEPS = {"lstm": (_lstm_steps_forward, _lstm_steps_backward),
              "gru": (_gru_steps_forward, _gru_steps_backward)}


def _conv_output(z, b, relu, Y):
    run("conv_output", z, b, relu, Y)


def _conv_delta(a, dY, relu, dz):
    run("conv_delta", a, dY, relu, dz)


def _col2im(dcols, sh, sw, top, left, acc, dX):
    run("col2im", dcols, sh, sw, top, left, acc, dX)


def _pool2_forward(X, Y, arg):
    run("pool2_forward", X, Y, arg)


def _pool2_backward(dY, arg, dX):
    run("pool2_backward", dY, arg, dX)


#: a layer's ``kernel`` name -> the compiled passes it runs instead of its NumPy ones
#: (:mod:`~nablanet.kernels.conv`): :class:`nablanet.layers.conv.Conv2D`'s ``(output,
#: delta, col2im)``, :class:`nablanet.layers.pool.MaxPool2D`'s ``(forward, backward)``;
#: set on the layers by :meth:`nablanet.models.Sequential.compiled_trainer`
LAYER_PASSES = {"conv2d": (_conv_output, _conv_delta, _col2im),
                "maxpool2d": (_pool2_forward, _pool2_backward)}


# --------------------------------------------------------------------------------------
def _jit_all() -> None:
    """Replace the kernel modules' Python functions by their Numba-compiled forms (once):
    the scalar helpers first, which the kernels read from :mod:`~nablanet.kernels.scalar`
    as they compile."""
    if hasattr(mlp.mlp_sgd_epoch, "py_func"):
        return
    # Numba's np.dot calls SciPy's BLAS, a second OpenBLAS; loaded on the first kernel
    # call, it would miss the thread limit fit sets before it (two threads per worker)
    import numba  # noqa: F401
    import scipy.linalg.cython_blas  # noqa: F401

    _release_llvm_pages()  # LLVM's static constructors ran: their pages are not needed again
    scalar.jit()
    mlp.jit()
    cells.jit()
    conv.jit()


#: llvmlite's library (with LLVM inside, as its wheels ship it), or LLVM's own shared
#: library where llvmlite is built against one (conda's)
_LLVM_LIBRARIES = ("libllvmlite", "libLLVM")
#: a mapping's first line in ``/proc/self/smaps``: start, end, permissions, ..., path
_MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$")


def _release_llvm_pages() -> int:
    """Drop this process's resident copies of LLVM's code and read-only data pages
    (:data:`_LLVM_LIBRARIES`, which Numba compiles and loads kernels with); returns the bytes
    of address space advised. Linux only (elsewhere nothing is done, and 0 returned).

    Importing Numba runs LLVM's static constructors, and loading a kernel (from the disk
    cache too: Numba compiles its runtime's helpers at every start) runs LLVM's code
    generator; each touches pages all over the 160 MB library, about 80 MB resident in
    all, none needed again until something is compiled. They are clean pages of the
    file, so ``madvise(MADV_DONTNEED)`` only unmaps them: the next use of LLVM maps them
    back from the page cache, bit for bit as before. Only mappings without write
    permission and with no page of their own (``Anonymous: 0`` in ``/proc/self/smaps``:
    the relocated ones are left alone) are advised. This keeps the demo's peak resident
    memory near its data with the compiled kernel (``docs/guide/speed.md``, Memory)."""
    if sys.platform != "linux":
        return 0
    try:
        with open("/proc/self/smaps") as smaps:
            lines = smaps.read().splitlines()
    except OSError:
        return 0
    ranges, current = [], None
    for line in lines:
        if mapping := _MAPPING.match(line):  # read-only, private, of llvmlite's library
            llvm = mapping[3][1] == "-" and mapping[3][3] == "p" \
                and mapping[4].rsplit("/", 1)[-1].startswith(_LLVM_LIBRARIES)
            current = (int(mapping[1], 16), int(mapping[2], 16)) if llvm else None
        elif current is not None and line.startswith("Anonymous:"):
            if int(line.split()[1]) == 0:
                ranges.append(current)
            current = None
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    advised = 0
    for start, end in ranges:
        if libc.madvise(start, end - start, mmap.MADV_DONTNEED) == 0:
            advised += end - start
    return advised
