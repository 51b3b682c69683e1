"""PyTorch as an independent oracle for the recurrent cells, the optimizers and the losses.

Every comparison copies nablanet's parameters into the equivalent PyTorch module, runs
both in float64 on the same data and compares outputs, loss values and gradients
(PyTorch's from autograd). The two implementations share no code, so agreement to
~1e-12 is strong evidence that the forward equations, BPTT and the update rules are
right.
"""

from __future__ import annotations

import numpy as np
import pytest

from nablanet import optimizers as nopt
from nablanet.activations import ACTIVATIONS
from nablanet.losses import BinaryCrossEntropy, CrossEntropy, Quadratic
from nablanet.models import GRU, LSTM, RNN

torch = pytest.importorskip(
    "torch", reason="PyTorch (torch==2.13.0) is an optional test oracle: pip install torch==2.13.0"
)
F_ = torch.nn.functional
pack_padded_sequence = torch.nn.utils.rnn.pack_padded_sequence
pad_packed_sequence = torch.nn.utils.rnn.pad_packed_sequence

RTOL, ATOL = 1e-6, 1e-9  # gradients: expected agreement ~1e-12, far below these
OPT_RTOL, OPT_ATOL = 1e-12, 1e-14

N, T, F, H, L = 4, 6, 3, 5, 2
LENGTHS = np.array([6, 3, 1, 5])  # ragged, unsorted, with a length-1 sequence


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _t(a: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64).copy())


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


# ------------------------------------------------------------------------------------
# Recurrent models: nablanet <-> torch.nn.{LSTM, GRU, RNN} + torch.nn.Linear
# ------------------------------------------------------------------------------------
KINDS = {
    "lstm": (LSTM, {}, "LSTM", {}),
    "gru": (GRU, {}, "GRU", {}),
    "rnn_tanh": (RNN, {"activation": "tanh"}, "RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"activation": "relu"}, "RNN", {"nonlinearity": "relu"}),
}


def _lstm_perm(h: int) -> np.ndarray:
    """Column indices of nablanet's (i, f, o, g) blocks in torch's (i, f, g, o) order."""
    return np.concatenate([np.arange(b * h, (b + 1) * h) for b in (0, 1, 3, 2)])


def _make_model(kind, layers, target, seed=0, **kwargs):
    cls, opts, _, _ = KINDS[kind]
    model = cls(F, H, L, num_layers=layers, target=target, seed=seed, **opts, **kwargs)
    rng = np.random.default_rng(seed + 100)
    for p in model.params():  # non-zero biases, asymmetric weights: every term exercised
        p += 0.3 * rng.standard_normal(p.shape)
    return model


def _to_torch(kind, model, seed=0):
    """The torch modules with nablanet's parameters. Biases that nablanet keeps as one
    sum ``b = bias_ih + bias_hh`` are split at random, so the mapping is really tested."""
    _, _, tname, topts = KINDS[kind]
    net = getattr(torch.nn, tname)(F, H, num_layers=model.n_layers, batch_first=True, **topts)
    lin = torch.nn.Linear(H, L)
    rng = np.random.default_rng(seed + 200)
    with torch.no_grad():
        for k, cell in enumerate(model.cells):
            wih, whh = getattr(net, f"weight_ih_l{k}"), getattr(net, f"weight_hh_l{k}")
            bih, bhh = getattr(net, f"bias_ih_l{k}"), getattr(net, f"bias_hh_l{k}")
            if kind == "gru":
                wih.copy_(_t(cell.W_x.T))
                whh.copy_(_t(cell.W_h.T))
                bih.copy_(_t(cell.b_x))
                bhh.copy_(_t(cell.b_h))
                continue
            p = _lstm_perm(H) if kind == "lstm" else np.arange(H)
            split = rng.standard_normal(cell.b.shape)
            wih.copy_(_t(cell.W_x[:, p].T))
            whh.copy_(_t(cell.W_h[:, p].T))
            bih.copy_(_t(cell.b[p] - split[p]))
            bhh.copy_(_t(split[p]))
        lin.weight.copy_(_t(model.W_y.T))
        lin.bias.copy_(_t(model.b_y))
    return net, lin


def _torch_grads(kind, model, net, lin) -> list[np.ndarray]:
    """torch's gradients mapped back to nablanet's parameter layout and order."""
    out = []
    for k in range(model.n_layers):
        g_ih = _np(getattr(net, f"weight_ih_l{k}").grad)
        g_hh = _np(getattr(net, f"weight_hh_l{k}").grad)
        gb_ih = _np(getattr(net, f"bias_ih_l{k}").grad)
        gb_hh = _np(getattr(net, f"bias_hh_l{k}").grad)
        if kind == "gru":
            out += [g_ih.T, g_hh.T, gb_ih, gb_hh]
            continue
        inv = np.argsort(_lstm_perm(H)) if kind == "lstm" else np.arange(H)
        # b = bias_ih + bias_hh, so dL/db equals both torch bias gradients
        np.testing.assert_allclose(gb_ih, gb_hh, rtol=1e-12, atol=1e-15)
        out += [g_ih.T[:, inv], g_hh.T[:, inv], gb_ih[inv]]
    out += [_np(lin.weight.grad).T, _np(lin.bias.grad)]
    return out


def _torch_logits(net, lin, X, mask, target):
    """Output-layer pre-activations from torch: (n, T, L) for "every", (n, L) for "last".
    With a mask the sequences are packed, so torch never sees the padded steps."""
    x = _t(X)
    if mask is None:
        seq, _ = net(x)
        return lin(seq) if target == "every" else lin(seq[:, -1])
    lengths = torch.from_numpy(mask.sum(axis=1).astype(np.int64))
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    seq_packed, h_n = net(packed)
    if target == "every":
        seq, _ = pad_packed_sequence(seq_packed, batch_first=True, total_length=X.shape[1])
        return lin(seq)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h_n, c_n)
    return lin(h_n[-1])  # top layer's hidden state at each sequence's own last step


def _data(case, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, T, F))
    mask = None
    if case.startswith("masked"):
        mask = np.arange(T) < LENGTHS[:, None]
        X[~mask] = 50.0 * rng.standard_normal(((~mask).sum(), F))  # loud padding
    target = "last" if case.endswith("last") else "every"
    Y = rng.standard_normal((N, T, L) if target == "every" else (N, L))
    return X, Y, mask, target


CASES = ["every", "last", "masked_every", "masked_last"]
MAX_DIFF: dict[str, float] = {}  # filled by the tests; handy when run with -s


def _record(key, a, b):
    d = float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(a) else 0.0
    MAX_DIFF[key] = max(MAX_DIFF.get(key, 0.0), d)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_model_matches_torch(kind, layers, case):
    X, Y, mask, target = _data(case, seed=layers)
    model = _make_model(kind, layers, target, seed=layers)
    net, lin = _to_torch(kind, model, seed=layers)

    logits = _torch_logits(net, lin, X, mask, target)
    y = _t(Y)
    if target == "every":
        w = torch.ones(N, T) if mask is None else _t(mask.astype(float))
        loss = 0.5 * (((logits - y) ** 2).sum(-1) * w).sum() / N
        expected_out = _np(logits) * (1.0 if mask is None else mask[..., None])
    else:
        loss = 0.5 * ((logits - y) ** 2).sum() / N
        expected_out = _np(logits)
    loss.backward()

    out = model.predict_proba(X, mask)
    assert out.shape == expected_out.shape
    np.testing.assert_allclose(out, expected_out, rtol=RTOL, atol=ATOL)
    _record(f"{kind} outputs", out, expected_out)

    value = model.loss_value(X, Y, mask)
    np.testing.assert_allclose(value, loss.item(), rtol=1e-10)
    _record(f"{kind} loss", value, loss.item())

    grads = model.gradients(X, Y, mask)
    expected = _torch_grads(kind, model, net, lin)
    assert len(grads) == len(expected) == len(model.params())
    for name, g, e in zip(model.tensors(), grads, expected, strict=True):
        assert g.shape == e.shape, name
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL, err_msg=f"{kind} {case} {name}")
        _record(f"{kind} gradients", g, e)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_classification_heads_match_torch(kind, output):
    """Sigmoid + binary cross-entropy and softmax + cross-entropy on padded, masked
    batches against torch's fused losses on packed sequences."""
    loss_name = "binary_cross_entropy" if output == "sigmoid" else "cross_entropy"
    X, _, mask, target = _data("masked_every", seed=5)
    rng = np.random.default_rng(6)
    Y = rng.random((N, T, L))
    if output == "softmax":
        Y /= Y.sum(-1, keepdims=True)
    model = _make_model(kind, 2, target, seed=5, output_activation=output, loss=loss_name)
    net, lin = _to_torch(kind, model, seed=5)

    logits = _torch_logits(net, lin, X, mask, target)
    y = _t(Y)
    if output == "sigmoid":
        per_step = F_.binary_cross_entropy_with_logits(logits, y, reduction="none").sum(-1)
        proba = torch.sigmoid(logits)
    else:
        per_step = F_.cross_entropy(logits.reshape(-1, L), y.reshape(-1, L),
                                    reduction="none").reshape(N, T)
        proba = torch.softmax(logits, dim=-1)
    loss = (per_step * _t(mask.astype(float))).sum() / N
    loss.backward()

    np.testing.assert_allclose(model.predict_proba(X, mask), _np(proba) * mask[..., None],
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.loss_value(X, Y, mask), loss.item(), rtol=1e-10)
    expected = _torch_grads(kind, model, net, lin)
    for name, g, e in zip(model.tensors(), model.gradients(X, Y, mask), expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL, err_msg=f"{kind} {name}")
        _record(f"{kind} {output} head gradients", g, e)


# ------------------------------------------------------------------------------------
# Optimizers: nablanet.optimizers vs torch.optim
# ------------------------------------------------------------------------------------
SHAPES = [(3, 4), (4,), (2, 3)]

OPTIMIZERS = {
    "sgd": (lambda: nopt.SGD(0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    "sgd_wd": (lambda: nopt.SGD(0.1, weight_decay=0.05),
               lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=0.05)),
    "momentum_wd": (lambda: nopt.SGD(0.1, momentum=0.9, weight_decay=0.05),
                    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.05)),
    "nesterov_wd": (lambda: nopt.SGD(0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
                    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, nesterov=True,
                                               weight_decay=0.05)),
    "rmsprop": (lambda: nopt.RMSProp(0.01),
                lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.99, eps=1e-8)),
    "rmsprop_wd": (lambda: nopt.RMSProp(0.02, alpha=0.9, eps=1e-6, weight_decay=0.05),
                   lambda ps: torch.optim.RMSprop(ps, lr=0.02, alpha=0.9, eps=1e-6,
                                                  weight_decay=0.05)),
    "adam": (lambda: nopt.Adam(0.01),
             lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    "adam_wd": (lambda: nopt.Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05),
                lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
                                            weight_decay=0.05)),
}


def _opt_problem(seed, steps, scale=1.0):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in SHAPES]
    grads = [[scale * rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return params, grads


def _run_torch(params, grads, make, clip=None):
    tp = [_t(p).requires_grad_(True) for p in params]
    opt = make(tp)
    for gs in grads:
        for p, g in zip(tp, gs, strict=True):
            p.grad = _t(g)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(tp, clip)
        opt.step()
    return [_np(p) for p in tp]


def _run_nablanet(params, grads, opt, decay=None):
    ps = [p.copy() for p in params]
    for gs in grads:
        opt.step(ps, [g.copy() for g in gs], decay)  # grads are scratch: pass copies
    return ps


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch(name, steps):
    make_ours, make_torch = OPTIMIZERS[name]
    params, grads = _opt_problem(11, steps)
    ours = _run_nablanet(params, grads, make_ours())
    theirs = _run_torch(params, grads, make_torch)
    for p0, a, b in zip(params, ours, theirs, strict=True):
        assert not np.allclose(a, p0)  # the step did something
        np.testing.assert_allclose(a, b, rtol=OPT_RTOL, atol=OPT_ATOL, err_msg=name)
        _record(f"optimizer {name}", a, b)


@pytest.mark.parametrize("name", ["momentum_wd", "adam_wd", "rmsprop_wd"])
def test_decay_flags_match_torch_param_groups(name):
    """decay=[True, False, True] is torch's two parameter groups, one without decay."""
    make_ours, _ = OPTIMIZERS[name]
    params, grads = _opt_problem(12, 3)
    ours = _run_nablanet(params, grads, make_ours(), decay=[True, False, True])

    opt = make_ours()
    cls = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}
    kw = {"lr": opt.lr}
    if isinstance(opt, nopt.SGD):
        kw.update(momentum=opt.momentum, nesterov=opt.nesterov)
    elif isinstance(opt, nopt.RMSProp):
        kw.update(alpha=opt.alpha, eps=opt.eps)
    else:
        kw.update(betas=(opt.beta1, opt.beta2), eps=opt.eps)

    def make_torch(ps):
        groups = [{"params": [ps[0], ps[2]], "weight_decay": opt.weight_decay},
                  {"params": [ps[1]], "weight_decay": 0.0}]
        return cls[opt.name](groups, **kw)

    theirs = _run_torch(params, grads, make_torch)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=OPT_RTOL, atol=OPT_ATOL)
        _record(f"decay flags {name}", a, b)


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    _, (grads,) = _opt_problem(13, 1)
    ours = [g.copy() for g in grads]
    norm = nopt.clip_grad_norm(ours, max_norm)
    tg = [_t(g).requires_grad_(True) for g in grads]
    for p, g in zip(tg, grads, strict=True):
        p.grad = _t(g)
    tnorm = torch.nn.utils.clip_grad_norm_(tg, max_norm)
    np.testing.assert_allclose(norm, tnorm.item(), rtol=1e-13)
    clipped = max_norm < norm
    for g0, a, p in zip(grads, ours, tg, strict=True):
        np.testing.assert_allclose(a, _np(p.grad), rtol=1e-13, atol=1e-15)
        assert clipped != np.array_equal(a, g0)
        _record("clip_grad_norm", a, _np(p.grad))


@pytest.mark.parametrize("name", ["momentum_wd", "adam_wd"])
def test_clip_norm_option_matches_torch(name):
    """Optimizer(clip_norm=c): clip, then decay, then update (torch: clip_grad_norm_ on
    the .grad, then step, which adds the decay)."""
    make_ours, make_torch = OPTIMIZERS[name]
    params, grads = _opt_problem(14, 3, scale=3.0)  # norms ~15: clipping active
    opt = make_ours()
    cfg = {k: v for k, v in opt.config().items() if k != "name"}
    cfg["clip_norm"] = 1.0
    ours = _run_nablanet(params, grads, type(opt)(**cfg))
    theirs = _run_torch(params, grads, make_torch, clip=1.0)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=OPT_RTOL, atol=OPT_ATOL)
        _record(f"clip_norm option {name}", a, b)


# ------------------------------------------------------------------------------------
# Losses: values and output-layer deltas vs torch.nn.functional
# ------------------------------------------------------------------------------------
def _logits(seed, shape=(5, 4)):
    rng = np.random.default_rng(seed)
    z = 3.0 * rng.standard_normal(shape)
    rows = z.reshape(-1, shape[-1])  # a view: the extremes go into the first rows
    rows[0, 0], rows[1, 1], rows[2, :2] = 1000.0, -1000.0, (1000.0, -1000.0)
    return z, rng


def _autograd(fn, z):
    zt = _t(z).requires_grad_(True)
    value = fn(zt)
    value.backward()
    return value.item(), _np(zt.grad)


def _ours(loss, act, z, y, mask=None):
    a = ACTIVATIONS[act](z)
    delta = loss.delta(a, y, ACTIVATIONS[act], np.empty_like(z), np.empty_like(z))
    return loss.value(z, a, y, mask), delta


def test_binary_cross_entropy_matches_torch():
    z, rng = _logits(21)
    y = rng.random(z.shape)
    y[0, 0], y[1, 1] = 0.0, 1.0  # the +-1000 logits, maximally wrong
    value, delta = _ours(BinaryCrossEntropy(), "sigmoid", z, y)
    tv, tgrad = _autograd(
        lambda zt: F_.binary_cross_entropy_with_logits(zt, _t(y), reduction="sum"), z)
    assert np.isfinite(value) and value > 2000.0  # two 1000-nat mistakes at least
    np.testing.assert_allclose(value, tv, rtol=1e-12)
    np.testing.assert_allclose(delta, tgrad, rtol=1e-12, atol=1e-15)
    _record("loss binary_cross_entropy value", value, tv)
    _record("loss binary_cross_entropy delta", delta, tgrad)


def test_cross_entropy_matches_torch():
    z, rng = _logits(22)
    y = rng.random(z.shape)
    y /= y.sum(axis=1, keepdims=True)
    y[1] = np.eye(4)[1]  # one-hot on the -1000 logit
    value, delta = _ours(CrossEntropy(), "softmax", z, y)
    tv, tgrad = _autograd(lambda zt: F_.cross_entropy(zt, _t(y), reduction="sum"), z)
    assert np.isfinite(value) and value > 1000.0
    np.testing.assert_allclose(value, tv, rtol=1e-12)
    np.testing.assert_allclose(delta, tgrad, rtol=1e-12, atol=1e-15)
    _record("loss cross_entropy value", value, tv)
    _record("loss cross_entropy delta", delta, tgrad)


def test_cross_entropy_unnormalised_rows_match_torch():
    z, rng = _logits(25)
    y = rng.random(z.shape)  # rows summing to anything in (0, 4)
    y[3] = 0.0
    value, _ = _ours(CrossEntropy(), "softmax", z, y)
    expected = F_.cross_entropy(_t(z), _t(y), reduction="sum").item()
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    _record("loss cross_entropy value", value, expected)


def test_masked_cross_entropy_matches_torch():
    z, rng = _logits(23, shape=(3, 4, 5))
    y = np.eye(5)[rng.integers(0, 5, (3, 4))]
    mask = rng.random((3, 4)) < 0.6
    value, _ = _ours(CrossEntropy(), "softmax", z, y, mask)
    rows = F_.cross_entropy(_t(z).reshape(-1, 5), _t(y).reshape(-1, 5), reduction="none")
    expected = (rows.reshape(3, 4) * _t(mask.astype(float))).sum().item()
    np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh"])
def test_quadratic_matches_torch(act):
    z, rng = _logits(24)
    y = rng.random(z.shape)
    value, delta = _ours(Quadratic(), act, z, y)
    fn = {"identity": lambda t: t, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[act]
    tv, tgrad = _autograd(lambda zt: 0.5 * F_.mse_loss(fn(zt), _t(y), reduction="sum"), z)
    np.testing.assert_allclose(value, tv, rtol=1e-12)
    np.testing.assert_allclose(delta, tgrad, rtol=1e-12, atol=1e-15)
    _record(f"loss quadratic/{act} delta", delta, tgrad)
