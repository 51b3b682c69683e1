"""Optimizers: the update rules re-derived by hand (scalar Python arithmetic, no NumPy
in-place tricks), state handling, decay flags, gradient clipping and every error path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nablanet.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    Optimizer,
    RMSProp,
    clip_grad_norm,
    get_optimizer,
)

W0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, 0.25, -1.0], [-0.2, 0.4, 0.3], [0.1, -0.6, 0.05]]


def _run(opt, steps, w0=W0, grads=GRADS, decay=None):
    w = np.array(w0)
    for g in grads[:steps]:
        opt.step([w], [np.array(g)], decay)
    return w


# ------------------------------------------------------------------------------------
# Update rules, by hand
# ------------------------------------------------------------------------------------
def test_sgd_plain_literal():
    # w - 0.1 g: 1 - 0.05, -2 - 0.025, 0.5 + 0.1
    np.testing.assert_allclose(_run(SGD(0.1), 1), [0.95, -2.025, 0.6], rtol=1e-15)


def test_sgd_momentum_literal():
    # v1 = g1, w1 = w0 - 0.1 g1;  v2 = 0.5 g1 + g2, w2 = w1 - 0.1 v2
    # element 0: v2 = 0.25 - 0.2 = 0.05;  w2 = 1 - 0.05 - 0.005 = 0.945
    w = _run(SGD(0.1, momentum=0.5), 2)
    assert w[0] == pytest.approx(0.945, rel=1e-15)


def _sgd_reference(lr, mu, nesterov, wd, steps, w0=W0, grads=GRADS, decay=True):
    w, v = list(w0), [0.0] * len(w0)
    for g in grads[:steps]:
        for i in range(len(w)):
            gi = g[i] + (wd * w[i] if decay else 0.0)
            if mu:
                v[i] = mu * v[i] + gi
                gi = gi + mu * v[i] if nesterov else v[i]
            w[i] = w[i] - lr * gi
    return w


@pytest.mark.parametrize(
    ("mu", "nesterov", "wd"),
    [(0.0, False, 0.0), (0.0, False, 0.1), (0.9, False, 0.0), (0.9, False, 0.1),
     (0.8, True, 0.0), (0.8, True, 0.1)])
def test_sgd_matches_reference(mu, nesterov, wd):
    w = _run(SGD(0.05, momentum=mu, nesterov=nesterov, weight_decay=wd), 3)
    np.testing.assert_allclose(w, _sgd_reference(0.05, mu, nesterov, wd, 3), rtol=1e-14)


def test_nesterov_first_step_literal():
    # v1 = g, step = g + mu v1 = (1 + mu) g = 1.5 g: 1 - 0.1 * 1.5 * 0.5 = 0.925
    w = _run(SGD(0.1, momentum=0.5, nesterov=True), 1)
    assert w[0] == pytest.approx(0.925, rel=1e-15)


def test_rmsprop_matches_reference():
    lr, alpha, eps, wd = 0.01, 0.9, 1e-6, 0.1
    w, s = list(W0), [0.0] * 3
    for g in GRADS:
        for i in range(3):
            gi = g[i] + wd * w[i]
            s[i] = alpha * s[i] + (1 - alpha) * gi * gi
            w[i] -= lr * gi / (math.sqrt(s[i]) + eps)
    ours = _run(RMSProp(lr, alpha=alpha, eps=eps, weight_decay=wd), 3)
    np.testing.assert_allclose(ours, w, rtol=1e-14)


def test_rmsprop_first_step_literal():
    # s = (1 - 0.99) g^2 = 0.01 g^2, sqrt(s) = 0.1 |g|: w -= lr * g / (0.1 |g|) = 10 lr sign(g)
    w = _run(RMSProp(0.001, eps=1e-300), 1)
    np.testing.assert_allclose(w, [1.0 - 0.01, -2.0 - 0.01, 0.5 + 0.01], rtol=1e-14)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_matches_reference(wd):
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-6
    w, m, v = list(W0), [0.0] * 3, [0.0] * 3
    for t, g in enumerate(GRADS, start=1):
        for i in range(3):
            gi = g[i] + wd * w[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
    ours = _run(Adam(lr, beta1=b1, beta2=b2, eps=eps, weight_decay=wd), 3)
    np.testing.assert_allclose(ours, w, rtol=1e-13)


def test_adam_first_step_is_lr_times_sign():
    # bias correction: m_hat = g, v_hat = g^2, so the first step is lr * g / |g|
    w = _run(Adam(0.1, eps=1e-300), 1)
    np.testing.assert_allclose(w, [0.9, -2.1, 0.6], rtol=1e-14)


def test_step_updates_in_place_and_uses_grads_as_scratch():
    w = np.array(W0)
    b = np.zeros(2)
    ids = (id(w), id(b))
    SGD(0.1).step([w, b], [np.array(GRADS[0]), np.array([1.0, -1.0])])
    assert (id(w), id(b)) == ids
    np.testing.assert_allclose(b, [-0.1, 0.1], rtol=1e-15)


def test_multiple_parameter_arrays_of_different_shapes():
    rng = np.random.default_rng(0)
    ps = [rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((1, 4))]
    gs = [rng.standard_normal(p.shape) for p in ps]
    expected = [p - 0.3 * g for p, g in zip(ps, gs, strict=True)]
    SGD(0.3).step(ps, [g.copy() for g in gs])
    for p, e in zip(ps, expected, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-15)


# ------------------------------------------------------------------------------------
# State
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("opt", "slots"),
    [(SGD(0.1, momentum=0.9), ("v",)), (RMSProp(0.1), ("s",)), (Adam(0.1), ("m", "v"))],
    ids=["momentum", "rmsprop", "adam"])
def test_state_allocated_once(opt, slots):
    w = [np.array(W0), np.zeros(2)]
    opt.step(w, [np.array(GRADS[0]), np.ones(2)])
    state = [[st[k] for k in slots] for st in opt._state]
    scratch = list(opt._scratch)
    for g in GRADS[1:]:
        opt.step(w, [np.array(g), np.ones(2)])
        assert all(a is b for a, b in zip(scratch, opt._scratch, strict=True))
        for before, st in zip(state, opt._state, strict=True):
            assert all(a is st[k] for a, k in zip(before, slots, strict=True))
    assert opt.t == 3


def test_state_reallocated_for_new_shapes():
    opt = Adam(0.1)
    opt.step([np.zeros(3)], [np.ones(3)])
    opt.step([np.zeros((2, 2))], [np.ones((2, 2))])
    assert opt._state[0]["m"].shape == (2, 2)
    assert opt.t == 1  # a new problem starts a new bias correction


def test_reset_forgets_state():
    opt = Adam(0.05)
    _run(opt, 3)
    assert opt.t == 3
    opt.reset()
    assert opt.t == 0 and opt._state is None
    fresh = _run(Adam(0.05), 2, grads=GRADS[1:])
    after_reset = _run(opt, 2, grads=GRADS[1:])
    np.testing.assert_array_equal(after_reset, fresh)


def test_momentum_carries_between_steps():
    # same gradient twice: second step is (1 + mu) times the first
    w = np.zeros(1)
    opt = SGD(1.0, momentum=0.5)
    opt.step([w], [np.ones(1)])
    first = -w[0]
    opt.step([w], [np.ones(1)])
    assert -w[0] - first == pytest.approx(1.5 * first, rel=1e-15)


# ------------------------------------------------------------------------------------
# Weight decay: decay flags and the book's L2 rule (Nielsen ch. 3, eq. 93)
# ------------------------------------------------------------------------------------
def test_book_l2_rule():
    eta, lmbda, n = 0.5, 5.0, 50
    w0, b0 = np.array([1.0, -3.0]), np.array([2.0])
    gw, gb = np.array([0.2, 0.4]), np.array([0.3])
    w, b = w0.copy(), b0.copy()
    SGD(eta, weight_decay=lmbda / n).step([w, b], [gw.copy(), gb.copy()], decay=[True, False])
    np.testing.assert_allclose(w, (1 - eta * lmbda / n) * w0 - eta * gw, rtol=1e-15)
    np.testing.assert_allclose(b, b0 - eta * gb, rtol=1e-15)  # biases not decayed
    # literal: (1 - 0.05) * 1 - 0.1 = 0.85; 0.95 * -3 - 0.2 = -3.05; 2 - 0.15 = 1.85
    np.testing.assert_allclose(np.r_[w, b], [0.85, -3.05, 1.85], rtol=1e-14)


def test_decay_default_is_all_parameters():
    w, b = np.array([1.0]), np.array([1.0])
    SGD(0.1, weight_decay=0.5).step([w, b], [np.zeros(1), np.zeros(1)])
    np.testing.assert_allclose(np.r_[w, b], [0.95, 0.95], rtol=1e-15)


@pytest.mark.parametrize("cls", [SGD, RMSProp, Adam])
def test_decay_flags_respected_by_every_optimizer(cls):
    """A parameter with a zero gradient and decay=False must not move; with decay=True
    it must shrink toward zero."""
    w, b = np.array([2.0]), np.array([2.0])
    opt = cls(0.1, weight_decay=0.3)
    for _ in range(2):
        opt.step([w, b], [np.zeros(1), np.zeros(1)], decay=[True, False])
    assert 0.0 < w[0] < 2.0
    assert b[0] == 2.0


# ------------------------------------------------------------------------------------
# Gradient clipping
# ------------------------------------------------------------------------------------
def test_clip_grad_norm_scales_globally():
    grads = [np.array([3.0]), np.array([[4.0, 0.0]])]  # global norm 5
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0, rel=1e-15)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(grads[0], [3.0 * coef], rtol=1e-15)
    np.testing.assert_allclose(grads[1], [[4.0 * coef, 0.0]], rtol=1e-15)
    new_norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    assert new_norm < 1.0


def test_clip_grad_norm_leaves_small_gradients_alone():
    grads = [np.array([0.3, 0.4])]
    assert clip_grad_norm(grads, 1.0) == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(grads[0], [0.3, 0.4])


def test_clip_norm_option_clips_before_the_update():
    w = np.zeros(2)
    SGD(1.0, clip_norm=1.0).step([w], [np.array([3.0, 4.0])])
    np.testing.assert_allclose(w, [-3.0 / (5 + 1e-6), -4.0 / (5 + 1e-6)], rtol=1e-14)


# ------------------------------------------------------------------------------------
# Configuration, registry, errors
# ------------------------------------------------------------------------------------
def test_get_optimizer_names():
    sgd = get_optimizer("sgd", 0.1)
    assert type(sgd) is SGD and sgd.momentum == 0.0 and not sgd.nesterov
    mom = get_optimizer("momentum", 0.1, momentum=0.7)
    assert type(mom) is SGD and mom.momentum == 0.7 and not mom.nesterov
    nest = get_optimizer("nesterov", 0.1)
    assert nest.nesterov and nest.momentum == 0.9
    assert type(get_optimizer("rmsprop", 0.1)) is RMSProp
    adam = get_optimizer("adam", 0.2, weight_decay=0.01, clip_norm=5.0)
    assert type(adam) is Adam
    assert (adam.lr, adam.weight_decay, adam.clip_norm) == (0.2, 0.01, 5.0)
    assert set(OPTIMIZERS) == {"sgd", "rmsprop", "adam"}


def test_config_round_trip():
    for opt in (SGD(0.1, momentum=0.8, nesterov=True, weight_decay=0.01, clip_norm=2.0),
                RMSProp(0.01, alpha=0.9, eps=1e-7), Adam(0.003, beta1=0.8, beta2=0.9)):
        cfg = opt.config()
        assert cfg.pop("name") == opt.name
        again = type(opt)(**cfg)
        assert again.config() == opt.config()
        assert repr(again) == repr(opt)
        assert isinstance(opt, Optimizer)


@pytest.mark.parametrize(
    ("make", "match"),
    [(lambda: SGD(0.0), "^lr: expected a number > 0"),
     (lambda: SGD(-0.1), "^lr: "),
     (lambda: Adam(float("nan")), "^lr: "),
     (lambda: RMSProp(float("inf")), "^lr: "),
     (lambda: SGD("0.1"), "^lr: "),
     (lambda: SGD(0.1, weight_decay=-1e-3), "^weight_decay: expected a number >= 0"),
     (lambda: Adam(0.1, weight_decay=float("nan")), "^weight_decay: "),
     (lambda: SGD(0.1, clip_norm=0.0), "^clip_norm: "),
     (lambda: SGD(0.1, clip_norm=-1.0), "^clip_norm: "),
     (lambda: SGD(0.1, momentum=-0.1), r"^momentum: expected a number in \[0, 1\)"),
     (lambda: SGD(0.1, momentum=1.0), "^momentum: "),
     (lambda: SGD(0.1, nesterov=True), "^nesterov: needs momentum > 0"),
     (lambda: Adam(0.1, beta1=1.0), r"^beta1: expected a number in \[0, 1\)"),
     (lambda: Adam(0.1, beta1=-0.5), "^beta1: "),
     (lambda: Adam(0.1, beta2=1.5), "^beta2: "),
     (lambda: Adam(0.1, eps=0.0), "^eps: "),
     (lambda: RMSProp(0.1, alpha=1.0), "^alpha: "),
     (lambda: RMSProp(0.1, eps=-1.0), "^eps: "),
     (lambda: get_optimizer("adagrad", 0.1), "^optimizer: expected one of sgd, momentum"),
     (lambda: get_optimizer("nesterov", 0.1, momentum=0.0), "^nesterov: "),
     (lambda: get_optimizer("adam", -1.0), "^lr: ")])
def test_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_numpy_float64_hyper_parameters_accepted():
    opt = SGD(np.float64(0.1), weight_decay=np.float64(0.01), clip_norm=np.float64(1.0))
    assert (opt.lr, opt.weight_decay, opt.clip_norm) == (0.1, 0.01, 1.0)


@pytest.mark.parametrize("value", [np.float32(0.5), np.int64(1), np.int32(2)],
                         ids=["float32", "int64", "int32"])
def test_other_numpy_scalar_hyper_parameters_accepted(value):
    """A NumPy scalar is a number > 0 (e.g. a learning rate taken from
    ``np.logspace(...).astype(np.float32)`` in a sweep); weight_decay already accepts it,
    lr, clip_norm and eps should too."""
    assert SGD(value).lr == float(value)
    assert SGD(0.1, clip_norm=value).clip_norm == float(value)
    assert Adam(0.1, eps=value).eps == float(value)
