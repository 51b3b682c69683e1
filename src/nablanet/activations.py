"""Activation functions, their derivatives, and in-place forms.

Every activation is a pair of functions over arrays of any shape:

``forward(z, out)``
    writes ``f(z)`` into ``out`` (which may be ``z`` itself) and returns it.
``backward(a, grad, work)``
    multiplies ``grad`` in place by ``f'(z)`` and returns it, where the derivative is
    expressed through the *output* ``a = f(z)`` (so the pre-activation need not be
    kept): sigmoid ``a(1-a)``, tanh ``1-a**2``, ReLU ``[a > 0]``, identity ``1``.
    ``work`` is a scratch array of the same shape and dtype.

Softmax is an output activation only: its Jacobian is never formed, because with the
categorical cross-entropy the output-layer delta is simply ``a - y``
(see :mod:`nablanet.losses`).

All forms are in place (``out=`` ufuncs) so that a training step allocates nothing.
Math: Nielsen, *Neural Networks and Deep Learning*, ch. 1 (sigmoid), ch. 3 (softmax,
tanh, rectified linear units).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nablanet.registry import get, names, register

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


def _sigmoid(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # sigma(z) = 1 / (1 + exp(-z)) = (1 + tanh(z / 2)) / 2: the tanh form cannot overflow.
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _sigmoid_backward(a: np.ndarray, grad: np.ndarray, work: np.ndarray) -> np.ndarray:
    # sigma'(z) = a (1 - a)
    np.subtract(1.0, a, out=work)
    work *= a
    grad *= work
    return grad


def _tanh(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.tanh(z, out=out)


def _relu(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0, out=out)


def _identity(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    if out is not z:
        np.copyto(out, z)
    return out


def _softmax(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    # Row-wise softmax over the last axis, shifted by the row maximum for stability.
    np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def _tanh_backward(a: np.ndarray, grad: np.ndarray, work: np.ndarray) -> np.ndarray:
    # tanh'(z) = 1 - a**2
    np.multiply(a, a, out=work)
    np.subtract(1.0, work, out=work)
    grad *= work
    return grad


def _relu_backward(a: np.ndarray, grad: np.ndarray, work: np.ndarray) -> np.ndarray:
    # relu'(z) = 1 where z > 0 (equivalently a > 0), else 0
    np.greater(a, 0.0, out=work)
    grad *= work
    return grad


def _identity_backward(a: np.ndarray, grad: np.ndarray, work: np.ndarray) -> np.ndarray:
    return grad


def _softmax_backward(a: np.ndarray, grad: np.ndarray, work: np.ndarray) -> np.ndarray:
    # Vector-Jacobian product of softmax along the last axis:
    # dL/dz = a * (g - sum(g * a)).  Only used when softmax is not paired with
    # the categorical cross-entropy (whose combined delta is a - y).
    np.multiply(grad, a, out=work)
    s = work.sum(axis=-1, keepdims=True)
    grad -= s
    grad *= a
    return grad


@dataclass(frozen=True)
class Activation:
    """An activation function with its in-place forward and backward forms.

    Attributes
    ----------
    name : str
        Registry name (``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"identity"``, ``"softmax"``).
    forward : callable ``(z, out) -> out``
        ``out = f(z)``; ``out`` may be ``z``.
    backward : callable ``(a, grad, work) -> grad``
        ``grad *= f'(z)`` given the output ``a = f(z)`` and a scratch array ``work``.
    """

    name: str
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Return ``f(z)`` as a new array (convenience form; allocates)."""
        z = np.asarray(z)
        return self.forward(z, np.empty_like(z, dtype=np.result_type(z, np.float32)))


for _activation in (
    Activation("sigmoid", _sigmoid, _sigmoid_backward),
    Activation("tanh", _tanh, _tanh_backward),
    Activation("relu", _relu, _relu_backward),
    Activation("identity", _identity, _identity_backward),
    Activation("softmax", _softmax, _softmax_backward),
):
    register("activation", _activation.name)(_activation)

#: every activation by name (a view of the registry, kind ``"activation"``)
ACTIVATIONS: dict[str, Activation] = {n: get("activation", n) for n in names("activation")}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name.

    Raises
    ------
    ValueError
        If ``name`` is not one of ``ACTIVATIONS``.
    """
    if isinstance(name, Activation):
        return name
    return get("activation", name)
