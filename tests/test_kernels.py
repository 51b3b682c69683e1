"""The compiled backend (Numba) against the NumPy reference path, and backend choice."""

import os
import subprocess
import sys

import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet import kernels
from nablanet.datasets.mnist import load_images
from nablanet.datasets.pixels import Pixels
from nablanet.kernels import scalar
from nablanet.layers import Conv2D, MaxPool2D
from nablanet.layers.recurrent import GRULayer, LSTMLayer
from nablanet.models import GRU, LSTM, RNN, Network, Sequential
from nablanet.models.spec import parse_layers
from nablanet.optimizers import SGD, Adam
from nablanet.training import ONE_THREAD_BELOW, thread_limit

needs_numba = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed "
                                 "(pip install 'nablanet[fast]')")


def _train_both(make, fit_args, *data, rel=1e-12):
    """The models trained on each backend, after checking that the training metrics
    each reports from its training pass (monitor_training=True: the outputs recorded as
    the mini-batches were trained) agree to ``rel``."""
    models, histories = [], []
    for backend in ("numpy", "numba"):
        model = make()
        histories.append(model.fit(*data, progress=False, monitor_training=True,
                                   backend=backend, **fit_args))
        models.append(model)
    numpy_run, numba_run = (h.epochs for h in histories)
    assert len(numpy_run) == len(numba_run) == fit_args["epochs"]
    for ours, theirs in zip(numpy_run, numba_run, strict=True):
        names = [k for k in ours if k.startswith("train_")]
        assert "train_loss" in names and sorted(names) == sorted(
            k for k in theirs if k.startswith("train_"))
        for name in names:
            assert theirs[name] == pytest.approx(ours[name], rel=rel, abs=1e-300), name
    return models


def _max_difference(a, b, params):
    return max(float(np.abs(p - q).max()) for p, q in zip(params(a), params(b), strict=True))


# learning rates small enough that training is not chaotic: there, differences in the
# last bit (BLAS summation order) grow by orders of magnitude per epoch on any two paths
MLP_CASES = [
    ({"sizes": [20, 8, 4]}, 10, 0.5),  # the book's network, shape-reduced
    ({"sizes": [20, 8, 4], "loss": "binary_cross_entropy"}, 10, 0.5),
    ({"sizes": [20, 9, 7, 4], "activation": ["relu", "tanh"], "output_activation": "softmax",
      "loss": "cross_entropy", "init": "he"}, 7, 0.1),
    ({"sizes": [20, 6, 1], "activation": "tanh", "output_activation": "identity",
      "init": "scaled_normal"}, 1, 0.01),
]


@needs_numba
@pytest.mark.parametrize(("config", "batch_size", "lr"), MLP_CASES)
def test_mlp_kernel_gives_the_numpy_weights(config, batch_size, lr):
    rng = np.random.default_rng(0)
    n = 103  # 103 % 10 and 103 % 7 leave a short last mini-batch
    X = rng.random((n, 20))
    n_out = config["sizes"][-1]
    y = rng.integers(0, n_out, n) if n_out > 1 else rng.random((n, 1))
    a, b = _train_both(lambda: Network(seed=3, optimizer=SGD(lr), **config),
                       {"epochs": 3, "batch_size": batch_size}, X, y)
    assert _max_difference(a, b, lambda m: m.weights + m.biases) < 1e-12


@needs_numba
def test_mlp_kernel_float32():
    rng = np.random.default_rng(1)
    X, y = rng.random((64, 20)).astype(np.float32), rng.integers(0, 4, 64)
    a, b = _train_both(lambda: Network([20, 8, 4], seed=3, dtype=np.float32),
                       {"epochs": 2, "batch_size": 8}, X, y, rel=1e-4)
    assert all(w.dtype == np.float32 for w in b.weights + b.biases)
    assert _max_difference(a, b, lambda m: m.weights + m.biases) < 1e-5


@needs_numba
def test_the_demos_network_gives_the_numpy_weights_on_real_images(mnist_10k_dir):
    # make demo's configuration (the book's network, eta 3.0, batch 10, images held as
    # bytes) on 8,000 real digits: the backends agree to rounding. On Fashion-MNIST at
    # eta 3.0 training is chaotic within an epoch: there the NumPy path moves as far from
    # itself when one weight changes by 1e-15 (docs/guide/runs.md)
    data = load_images(mnist_10k_dir, pixels=True)
    a, b = _train_both(lambda: Network([784, 30, 10], seed=1),
                       {"epochs": 1, "batch_size": 10}, data.X_train, data.y_train)
    assert _max_difference(a, b, lambda m: m.weights + m.biases) < 1e-12


@needs_numba
def test_load_kernel_loads_the_form_fit_runs():
    # float32 and four layers: a form no other test loads
    make = lambda **kw: Network([6, 5, 4, 4, 3], seed=0, dtype=np.float32, **kw)  # noqa: E731
    kernel = kernels.kernel_table()["mlp_sgd_epoch"]
    before = len(kernel.signatures)
    assert make().load_kernel("numpy") is False
    assert make(optimizer=Adam(0.01)).load_kernel("auto") is False
    assert make().load_kernel("auto", batch_size=64) is False  # NumPy's batch sizes
    with pytest.raises(ValueError, match="plain SGD"):
        make(optimizer=Adam(0.01)).load_kernel("numba")
    assert len(kernel.signatures) == before
    net = make()
    assert net.load_kernel("auto", batch_size=10) is True
    assert len(kernel.signatures) == before + 1
    raw = np.random.default_rng(0).integers(0, 256, (25, 6), dtype=np.uint8)
    net.fit(Pixels(raw, np.float32), np.arange(25) % 3, epochs=1, batch_size=10,
            progress=False, validation_data=(Pixels(raw[:7], np.float32), np.zeros(7, int)))
    assert net.training_state.backend == "numba" and len(kernel.signatures) == before + 1


# Loading a kernel runs LLVM; its pages are dropped after (kernels._release_llvm_pages)
LLVM_PAGES = """
import re
import numpy as np, numba
from nablanet import Network, kernels
def llvm_mb():  # resident MB of llvmlite's library
    rss, llvm = 0, False
    for line in open("/proc/self/smaps"):
        if re.match("[0-9a-f]+-[0-9a-f]+ ", line):
            llvm = "libllvmlite" in line
        elif llvm and line.startswith("Rss:"):
            rss += int(line.split()[1])
    return rss / 1024
rng = np.random.default_rng(0)
X, y = rng.random((30, 5)), rng.integers(0, 3, 30)
def trained(backend):
    net = Network([5, 4, 3], seed=0)
    net.fit(X, y, epochs=2, batch_size=10, backend=backend, progress=False)
    return net.weights + net.biases
a = trained("numba")
loaded = llvm_mb()
f = numba.njit(lambda x: x * 2.0 + 1.0)  # LLVM compiles again, on the dropped pages
print(f(3.0), loaded, llvm_mb(), kernels._release_llvm_pages() > 0, llvm_mb())
b, c = trained("numba"), trained("numpy")
print(all(np.array_equal(p, q) for p, q in zip(a, b)),
      max(float(np.abs(p - q).max()) for p, q in zip(a, c)))
"""


@needs_numba
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's /proc and madvise")
def test_llvm_pages_are_dropped_after_loading_and_come_back_when_needed():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", LLVM_PAGES], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    value, loaded, compiled, released, after = out[:5]
    # importing Numba and loading the kernel touch ~80 MB of it; the relocated pages
    # (written by the loader: ~6 MB) stay
    assert float(loaded) < 12, out
    assert value == "7.0" and float(compiled) > float(loaded) + 5, out
    assert released == "True" and float(after) < 12, out
    assert out[5] == "True" and float(out[6]) < 1e-12, out


RNN_OUTPUTS = [("identity", "mse", 2), ("sigmoid", "mse", 1),
               ("sigmoid", "binary_cross_entropy", 1), ("softmax", "cross_entropy", 3)]


@needs_numba
@pytest.mark.parametrize(("output", "loss", "n_out"), RNN_OUTPUTS)
@pytest.mark.parametrize("target", ["every", "last"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("batch_size", [1, 7])
def test_rnn_kernel_gives_the_numpy_weights(output, loss, n_out, target, activation,
                                             batch_size):
    rng = np.random.default_rng(2)
    n, T = 60, 6
    X = rng.standard_normal((n, T, 5))
    mask = np.arange(T) < rng.integers(1, T + 1, n)[:, None]  # ragged, masked
    if output == "softmax":
        Y = rng.integers(0, n_out, (n, T))
    else:
        Y = (rng.random((n, T, n_out)) > 0.5).astype(float)

    def make():
        return RNN(5, 6, n_out, activation=activation, output_activation=output, loss=loss,
                   target=target, optimizer=SGD(0.05), seed=4)

    a, b = _train_both(make, {"epochs": 2, "batch_size": batch_size}, X, Y, mask)
    assert _max_difference(a, b, lambda m: m.params()) < 1e-12


@needs_numba
def test_rnn_kernel_float32():
    rng = np.random.default_rng(5)
    X, Y = rng.random((40, 5, 3)).astype(np.float32), rng.random((40, 5, 1))
    a, b = _train_both(lambda: RNN(3, 4, 1, optimizer=SGD(0.1), seed=1, dtype=np.float32),
                       {"epochs": 2, "batch_size": 1}, X, Y, rel=1e-4)
    assert all(p.dtype == np.float32 for p in b.params())
    assert _max_difference(a, b, lambda m: m.params()) < 1e-5


@needs_numba
@pytest.mark.parametrize("make", [
    lambda: (Network([5, 6, 3], seed=0, optimizer=SGD(0.5)), (40, 5), 3),
    lambda: (RNN(5, 4, 2, target="last", optimizer=SGD(0.1), seed=0), (40, 3, 5), 2)])
def test_compiled_training_metrics_take_no_second_forward_pass(make):
    model, shape, n_out = make()
    rng = np.random.default_rng(0)
    X, Xv = rng.random(shape), rng.random((9, *shape[1:]))
    y, yv = rng.integers(0, n_out, 40), rng.integers(0, n_out, 9)
    if isinstance(model, RNN):
        y, yv = rng.random((40, n_out)), rng.random((9, n_out))
    rows = []
    outputs = model._outputs
    model._outputs = lambda A: rows.append(len(A)) or outputs(A)
    history = model.fit(X, y, epochs=3, batch_size=4, validation_data=(Xv, yv),
                        backend="numba", progress=False)
    assert rows == [len(Xv)] * 3  # the validation data only: no pass over X
    assert len(history["train_loss"]) == 3 and model.training_state.backend == "numba"


@pytest.mark.parametrize(("batch_size", "expected"), [(1, True), (16, True), (17, False)])
def test_auto_picks_the_kernel_for_small_batches_when_installed(monkeypatch, batch_size,
                                                                 expected):
    monkeypatch.setattr(kernels, "AVAILABLE", True)
    monkeypatch.setattr(kernels, "kernel_table", dict)  # with or without Numba installed
    assert kernels.use_numba("auto", None, batch_size, 16) is expected
    assert kernels.use_numba("auto", "not covered", 1, 16) is False
    assert kernels.use_numba("numpy", None, 1, 16) is False


def test_auto_falls_back_to_numpy_without_numba(monkeypatch):
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    assert kernels.use_numba("auto", None, 1, 16) is False
    with pytest.raises(ImportError, match=r"nablanet\[fast\]"):
        kernels.use_numba("numba", None, 1, 16)
    # and a fit with the default backend still trains, on NumPy
    net = Network([3, 2, 2], seed=0)
    net.fit(np.zeros((4, 3)), [0, 1, 0, 1], epochs=1, batch_size=2, progress=False)


@needs_numba
@pytest.mark.parametrize(("make", "reason"), [
    (lambda: RNN(3, 4, 1, optimizer=Adam(0.01)), "plain SGD"),
    (lambda: RNN(3, 4, 1, optimizer=SGD(0.01, momentum=0.9)), "plain SGD"),
    (lambda: RNN(3, 4, 1, num_layers=2), "one vanilla RNN layer"),
    (lambda: RNN(3, 4, 2, output_activation="softmax", loss="mse"), "loss quadratic"),
])
def test_numba_backend_refuses_what_it_does_not_cover(make, reason):
    model = make()
    X, Y = np.zeros((4, 3, 3)), np.zeros((4, 3, model.n_outputs))
    with pytest.raises(ValueError, match=reason):
        model.fit(X, Y, epochs=1, batch_size=2, backend="numba", progress=False)


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend: expected one of auto, numpy, numba"):
        Network([2, 2]).fit(np.zeros((2, 2)), [0, 1], epochs=1, batch_size=1,
                            backend="cuda", progress=False)


def test_thread_limit():
    assert thread_limit(None, ONE_THREAD_BELOW - 1) == 1
    assert thread_limit(None, ONE_THREAD_BELOW) is None
    assert thread_limit(2, 10) == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            thread_limit(bad, 10)


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba not installed")
def test_kernels_are_called_through_one_explicit_table():
    table = kernels.kernel_table()
    assert sorted(table) == ["col2im", "conv_delta", "conv_output", "gru_backward",
                             "gru_forward", "lstm_backward", "lstm_forward", "mlp_sgd_epoch",
                             "pool2_backward", "pool2_forward", "rnn_sgd_epoch"]
    # the compiled forms (rnn_sgd_epoch picks the form compiled for the model's sizes)
    assert all(hasattr(k, "py_func") for n, k in table.items() if n != "rnn_sgd_epoch")
    with pytest.raises(ValueError, match=r"kernel: expected one of \['col2im'"):
        kernels.run("_jit_all")


# --------------------------------------------------------------------------------------
# The scalar tanh of the kernels, and the LSTM/GRU cell kernels against the NumPy layers
# --------------------------------------------------------------------------------------
@needs_numba
def test_kernel_float32_tanh_is_within_6_ulp_and_bounded():
    import numba

    kernels.kernel_table()

    @numba.njit(fastmath=set(kernels.FASTMATH), error_model="numpy")
    def apply(z, out, sig):
        for i in range(z.shape[0]):
            out[i] = scalar.cell_tanh(z[i])
            sig[i] = scalar.cell_sigmoid(z[i])

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.standard_normal(20_000) * s for s in (1e-6, 1e-2, 0.5, 3, 30)]
                       + [np.linspace(-12, 12, 200_001), [0.0, -0.0, 9.0, -9.0, 3e38]]
                       ).astype(np.float32)
    out, sig = np.empty_like(z), np.empty_like(z)
    apply(z, out, sig)
    assert out.dtype == np.float32 and np.abs(out).max() <= 1.0
    ref = np.tanh(z.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert (np.abs(out - ref) <= 6 * ulp).all()
    ref_sig = 1.0 / (1.0 + np.exp(-z.astype(np.float64)))
    assert np.abs(sig - ref_sig).max() < 4e-7


@needs_numba
def test_kernel_tanh_is_within_3_ulp_of_numpy():
    import numba

    kernels.kernel_table()

    @numba.njit(fastmath=set(kernels.FASTMATH), error_model="numpy")
    def apply(z, out):
        for i in range(z.shape[0]):
            out[i] = scalar._tanh(z[i])

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.standard_normal(20_000) * s for s in (1e-9, 1e-3, 0.3, 3, 30)]
                       + [[0.0, -0.0, 19.9, 20.0, 25.0, -700.0, 1e300]])
    out = np.empty_like(z)
    apply(z, out)
    ref = np.tanh(z)
    assert (np.abs(out - ref) <= 3 * np.spacing(np.abs(ref))).all()
    assert (np.sign(out) == np.sign(ref)).all()


def _layer_both(layer, m, T, need_dX, dtype=np.float64):
    """Forward and backward of ``layer`` on one batch, with its NumPy recurrence and with
    the compiled steps: ``[(outputs, gradients, dX), (...)]``."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((m, T, layer.n_in)).astype(dtype)
    dY = rng.standard_normal((m, T, layer.n_hidden)).astype(dtype)
    layer.allocate((m, T + 2, layer.n_in))  # buffers of another shape exist too
    results = []
    for steps in (None, kernels.CELL_STEPS[layer.kernel]):
        layer.compiled_steps = steps
        out = layer.forward(X).copy()
        dX = layer.backward(dY, need_dX)
        results.append((out, [g.copy() for g in layer.grads], None if dX is None else dX.copy()))
    return results


@needs_numba
@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
@pytest.mark.parametrize(("T", "m", "need_dX"), [(6, 3, True), (1, 1, False), (4, 8, False)])
def test_cell_kernels_give_the_numpy_states_and_gradients(cls, T, m, need_dX):
    (h_np, g_np, dx_np), (h_k, g_k, dx_k) = _layer_both(cls(4, 5, seed=2), m, T, need_dX)
    assert np.abs(h_np - h_k).max() < 1e-12
    for a, b in zip(g_np, g_k, strict=True):
        assert np.abs(a - b).max() < 1e-12
    if need_dX:
        assert np.abs(dx_np - dx_k).max() < 1e-12


@needs_numba
@pytest.mark.parametrize("cls", [LSTMLayer, GRULayer])
def test_cell_kernels_float32(cls):
    (h_np, g_np, _), (h_k, g_k, _) = _layer_both(cls(4, 5, seed=2, dtype=np.float32), 3, 5,
                                                 False, np.float32)
    assert h_k.dtype == np.float32 and all(g.dtype == np.float32 for g in g_k)
    assert np.abs(h_np - h_k).max() < 1e-5
    assert max(np.abs(a - b).max() for a, b in zip(g_np, g_k, strict=True)) < 1e-4


@needs_numba
@pytest.mark.parametrize("cls", [LSTM, GRU])
@pytest.mark.parametrize(("layers", "target", "optimizer"), [
    (1, "every", lambda: SGD(0.05)), (2, "last", lambda: Adam(0.01))])
def test_lstm_gru_fit_with_the_kernels_gives_the_numpy_weights(cls, layers, target, optimizer):
    rng = np.random.default_rng(3)
    n, T = 40, 5
    X = rng.standard_normal((n, T, 3))
    mask = np.arange(T) < rng.integers(1, T + 1, n)[:, None]
    Y = rng.standard_normal((n, T, 2)) if target == "every" else rng.standard_normal((n, 2))

    def make():
        return cls(3, 4, 2, num_layers=layers, target=target, optimizer=optimizer(), seed=5)

    a, b = _train_both(make, {"epochs": 2, "batch_size": 8}, X, Y, mask)
    assert _max_difference(a, b, lambda m: m.params()) < 1e-12
    assert all(c.compiled_steps is not None for c in b.cells)
    assert not any(c.compiled_steps is not None for c in a.cells)
    b.fit(X, Y, mask, epochs=1, batch_size=8, progress=False, backend="numpy")
    assert not any(c.compiled_steps is not None for c in b.cells)  # back to NumPy


@needs_numba
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_rows_split_across_threads_give_the_one_thread_weights(cls, monkeypatch):
    from nablanet.models import gradient_step

    parts = [1]  # unsplit steps do not call run_parts
    real = gradient_step.run_parts
    monkeypatch.setattr(gradient_step, "run_parts",
                        lambda fn, n: (parts.append(n), real(fn, n)))
    rng = np.random.default_rng(4)
    n, T = 100, 6  # batches of 48, 48 and 4: 3 parts of 16 rows, then no split
    X = rng.standard_normal((n, T, 3))
    mask = np.arange(T) < rng.integers(1, T + 1, n)[:, None]
    y = rng.integers(0, 3, n)
    models = []
    for threads in (1, 3):
        model = cls(3, 7, 3, num_layers=2, output_activation="softmax", loss="cross_entropy",
                    target="last", optimizer=Adam(0.01), seed=5)
        del parts[1:]
        model.fit(X, y, mask, epochs=2, batch_size=48, threads=threads, backend="numba",
                  progress=False)
        models.append(model)
        assert max(parts) == threads and min(parts) == 1
    assert _max_difference(*models, lambda m: m.params()) < 1e-12
    np.testing.assert_allclose(models[0].predict_proba(X, mask), models[1].predict_proba(X, mask),
                               rtol=0, atol=1e-12)


FIRST_FIT = """
import numpy as np
from threadpoolctl import threadpool_info
from nablanet import LSTM
from nablanet.training import Callback

class Threads(Callback):
    def on_epoch_end(self, epoch, logs):
        print(sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}))

LSTM(3, 8, 2, seed=0).fit(np.ones((64, 5, 3)), np.ones((64, 5, 2)), epochs=1, batch_size=64,
                          threads=1, backend="numba", progress=False, callbacks=[Threads()])
"""


@needs_numba
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS has one thread anyway")
def test_the_first_fit_of_a_process_limits_the_kernels_blas_too():
    # Numba calls SciPy's own OpenBLAS: loaded inside fit's thread limit, it ran at its
    # default threads (two per worker when rows split)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    out = subprocess.run([sys.executable, "-c", FIRST_FIT], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.strip() == "[1]"


# --------------------------------------------------------------------------------------
# The convolution layer's compiled passes against its NumPy passes
# --------------------------------------------------------------------------------------
def _conv_both(layer, X, dY):
    """``(output, gradients, dL/dX)`` of ``layer`` on its NumPy passes, then on its
    compiled ones; each after a larger batch (the buffers' views for another ``m``)."""
    results = []
    for passes in (None, kernels.LAYER_PASSES[layer.kernel]):
        layer.compiled_passes = passes
        layer.forward(np.concatenate([X, X[:1]]))
        out = layer.forward(X).copy()
        dX = layer.backward(dY.copy())
        results.append((out, [g.copy() for g in layer.grads], dX.copy()))
    return results


@needs_numba
@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [
    (5, 1, "valid"), (3, 2, 1), (4, 1, "same"), ((3, 2), (2, 1), (1, 2))])
@pytest.mark.parametrize("activation", ["relu", "identity", "tanh"])
def test_conv_passes_give_the_numpy_outputs_and_gradients(kernel_size, stride, padding,
                                                          activation):
    rng = np.random.default_rng(7)
    layer = Conv2D(3, 4, kernel_size, stride=stride, padding=padding, activation=activation,
                   seed=1)
    layer.b[:] = rng.standard_normal(4)
    X = rng.standard_normal((5, 3, 9, 8))
    dY = rng.standard_normal(layer.forward(X).shape)
    (y_np, g_np, dx_np), (y_k, g_k, dx_k) = _conv_both(layer, X, dY)
    assert (y_np > 0).any() and (y_np <= 0).any()  # both branches of relu'
    assert np.abs(y_np - y_k).max() < 1e-12
    assert max(np.abs(a - b).max() for a, b in zip(g_np, g_k, strict=True)) < 1e-12
    assert np.abs(dx_np - dx_k).max() < 1e-12


@needs_numba
def test_conv_passes_float32_and_gradient_check():
    rng = np.random.default_rng(8)
    layer = Conv2D(2, 3, 3, padding=1, activation="identity", dtype=np.float32, seed=2)
    X = rng.standard_normal((4, 2, 6, 5)).astype(np.float32)
    dY = rng.standard_normal((4, 3, 6, 5)).astype(np.float32)
    (y_np, g_np, dx_np), (y_k, g_k, dx_k) = _conv_both(layer, X, dY)
    assert y_k.dtype == dx_k.dtype == np.float32
    assert np.abs(y_np - y_k).max() < 1e-5 and np.abs(dx_np - dx_k).max() < 1e-5
    assert max(np.abs(a - b).max() for a, b in zip(g_np, g_k, strict=True)) < 1e-4
    layer = Conv2D(2, 3, (3, 2), stride=(2, 1), padding=1, activation="relu", seed=3)
    layer.b[:] = 0.1
    layer.compiled_passes = kernels.LAYER_PASSES[layer.kernel]
    check_layer(layer, rng.standard_normal((3, 2, 7, 6)))  # finite differences


@needs_numba
@pytest.mark.parametrize("batch_size", [4, 7])
def test_conv_net_fit_with_the_passes_gives_the_numpy_weights(batch_size):
    rng = np.random.default_rng(9)
    X, y = rng.random((30, 1, 12, 12)), rng.integers(0, 3, 30)

    def make():
        return Sequential(parse_layers("conv:4x3x3,pool:2,conv:5x3x3,dense:8,softmax:3",
                                       (1, 12, 12), seed=0),
                          output_activation="softmax", loss="cross_entropy",
                          optimizer=SGD(0.1), seed=0)

    a, b = _train_both(make, {"epochs": 2, "batch_size": batch_size}, X, y)
    assert _max_difference(a, b, lambda m: m.params()) < 1e-12
    assert b.layers[0].compiled_passes is not None and a.layers[0].compiled_passes is None
    b.fit(X, y, epochs=1, batch_size=batch_size, progress=False, backend="numpy")
    assert b.layers[0].compiled_passes is None  # back to NumPy


@needs_numba
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pool_passes_give_the_numpy_outputs_ties_nan_and_gradients(dtype):
    rng = np.random.default_rng(10)
    X = np.maximum(rng.standard_normal((3, 2, 6, 8)), 0).astype(dtype)  # ties at 0
    X[0, 0, 0, 1] = X[0, 0, 1, 0] = 2.0  # a tie of two maxima: the first one wins
    X[1, 1, 2, 3] = np.nan
    X[2, 0, 4, 4] = np.nan  # NaN first in its window
    dY = rng.standard_normal((3, 2, 3, 4)).astype(dtype)
    results = []
    for passes in (None, kernels.LAYER_PASSES["maxpool2d"]):
        layer = MaxPool2D(2, dtype=dtype)
        layer.compiled_passes = passes
        layer.forward(np.concatenate([X, X]))  # buffers for a larger batch
        results.append((layer.forward(X).copy(), layer.backward(dY).copy()))
    (y_np, dx_np), (y_k, dx_k) = results
    assert np.isnan(y_np[1, 1, 1, 1]) and np.isnan(y_np[2, 0, 2, 2])
    np.testing.assert_array_equal(y_k, y_np)  # NaN where NaN
    np.testing.assert_array_equal(dx_k, dx_np)
    assert dx_k[0, 0, 0, 1] == dY[0, 0, 0, 0] and dx_k[0, 0, 1, 0] == 0


@needs_numba
def test_pool_passes_leave_other_windows_to_numpy():
    layer = MaxPool2D(3, stride=2)
    layer.compiled_passes = kernels.LAYER_PASSES["maxpool2d"]
    X = np.random.default_rng(11).standard_normal((2, 1, 7, 7))
    check_layer(layer, X)  # finite differences: the NumPy passes of overlapping windows
    odd = MaxPool2D(2)
    odd.compiled_passes = kernels.LAYER_PASSES["maxpool2d"]
    check_layer(odd, X)  # 7x7: the windows do not tile the input
