"""Min-max scaling as a layer: preprocessing that is part of the model.

:class:`MinMaxScaling` maps each feature (the last axis) to ``[0, 1]`` with bounds fitted
on the training data, ``y = (x - min) * s`` with ``s = 1 / (max - min)``, or back to the
data's units (``inverse=True``: ``y = x * (max - min) + min``). It has no parameters to
train; its bounds are its config, so it is saved, loaded and exported with the model and
every path (the API, the CLI, ONNX, PyTorch, Rust and C) applies the same arithmetic.

A model holds it at its edges (``Sequential(..., input_scaling=, output_scaling=)``):
raw features in, outputs in the data's units out, while training runs in the scaled
units (see :class:`nablanet.models.sequential.Sequential`). It is also an ordinary layer
that a stack may hold anywhere: the gradient passes through, ``dL/dx = dL/dy * s``.
"""

from __future__ import annotations

import numpy as np

from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.registry import register

__all__ = ["MinMaxScaling"]


@register("layer", "MinMaxScaling")
class MinMaxScaling(Layer):
    """Per-feature min-max scaling of the last axis, or its inverse.

    ``y = (x - minimum) * scale`` with ``scale = 1 / (maximum - minimum)`` (0 for a
    constant feature, which maps to 0), or with ``inverse=True``
    ``y = x * (maximum - minimum) + minimum`` (a constant feature maps back to its
    constant). The arithmetic is that of :class:`nablanet.preprocessing.MinMaxScaler`
    (``transform`` and ``inverse_transform_labels``), operation for operation, so the two
    agree bit for bit.

    Parameters
    ----------
    minimum, maximum : array_like, shape ``(F,)``
        The bounds of each feature, finite, ``maximum >= minimum``; kept as float64.
    inverse : bool, default False
        Map scaled values back to the data's units.
    dtype : float64 or float32
        Of the outputs of :meth:`forward` (as a layer inside a stack).

    Notes
    -----
    Shapes: input ``(..., F)``, output the same. No parameters (``grads`` is empty).
    :meth:`apply` is the formula on any array in float64 (what a model does at its
    edges, before casting to its dtype); :meth:`undo` its inverse (a model maps data-unit
    targets through the output layer's ``undo``, so the loss is in the scaled units).

    Raises
    ------
    ValueError
        For bounds that are not 1-D of one length, not finite, or with ``maximum <
        minimum``.

    Examples
    --------
    >>> layer = MinMaxScaling([0.0, 10.0], [2.0, 20.0])
    >>> layer.apply(np.array([[1.0, 15.0]]))
    array([[0.5, 0.5]])
    >>> MinMaxScaling([0.0, 10.0], [2.0, 20.0], inverse=True).apply(np.array([[0.5, 0.5]]))
    array([[ 1., 15.]])
    """

    def __init__(self, minimum, maximum, *, inverse: bool = False, dtype=np.float64):
        lo = np.array(minimum, dtype=np.float64)
        hi = np.array(maximum, dtype=np.float64)
        if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
            raise ValueError(f"MinMaxScaling: expected minimum and maximum of one shape "
                             f"(F,), got {lo.shape} and {hi.shape}")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("MinMaxScaling: the bounds contain NaN or infinite values")
        if (hi < lo).any():
            k = int(np.argmax(hi < lo))
            raise ValueError(f"MinMaxScaling: feature {k}: maximum {hi[k]:g} < minimum "
                             f"{lo[k]:g}")
        if not isinstance(inverse, bool):
            raise ValueError(f"MinMaxScaling: inverse: expected True or False, got {inverse!r}")
        self.minimum, self.maximum, self.inverse = lo, hi, inverse
        self.span = hi - lo
        #: ``1 / (max - min)``, 0 where a feature is constant
        self.scale = np.divide(1.0, self.span, out=np.zeros_like(self.span),
                               where=self.span > 0)
        self.dtype = check_dtype(dtype)
        self.grads = []
        self._Y: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """``F``, the size of the last axis."""
        return self.minimum.size

    @property
    def factor(self) -> np.ndarray:
        """``dy/dx`` of each feature: ``scale``, or ``max - min`` for the inverse."""
        return self.span if self.inverse else self.scale

    def _check(self, x: np.ndarray) -> None:
        if x.ndim == 0 or x.shape[-1] != self.n_features:
            raise ValueError(f"MinMaxScaling: expected {self.n_features} features on the "
                             f"last axis, got shape {x.shape}")

    def _scale(self, x: np.ndarray) -> np.ndarray:
        out = x - self.minimum  # one new array, scaled in place
        out *= self.scale
        return out

    def _unscale(self, x: np.ndarray) -> np.ndarray:
        out = x * self.span
        out += self.minimum
        return out

    def apply(self, x) -> np.ndarray:
        """The layer's formula on ``x (..., F)``, computed in float64.

        Raises
        ------
        ValueError
            If the last axis of ``x`` is not ``F``.
        """
        x = np.asarray(x, dtype=np.float64)
        self._check(x)
        return self._unscale(x) if self.inverse else self._scale(x)

    def undo(self, y) -> np.ndarray:
        """The inverse of :meth:`apply` on ``y (..., F)``, in float64 (a constant
        feature's values are lost: they all map to its minimum, or to 0).

        Raises
        ------
        ValueError
            If the last axis of ``y`` is not ``F``.
        """
        y = np.asarray(y, dtype=np.float64)
        self._check(y)
        return self._scale(y) if self.inverse else self._unscale(y)

    def allocate(self, input_shape):
        self._check(np.empty((0, *input_shape[1:])) if len(input_shape) > 1
                    else np.empty(()))
        self._Y = np.empty(input_shape, dtype=self.dtype)
        return self._Y.shape

    def forward(self, X, training=False):
        if self._Y is None or X.shape[1:] != self._Y.shape[1:] or len(X) > len(self._Y):
            self.allocate(X.shape)
        Y = self._Y[:len(X)]
        if self.inverse:
            np.multiply(X, self.span, out=Y, casting="unsafe")
            np.add(Y, self.minimum, out=Y, casting="unsafe")
        else:
            np.subtract(X, self.minimum, out=Y, casting="unsafe")
            np.multiply(Y, self.scale, out=Y, casting="unsafe")
        return Y

    def backward(self, dY, need_dX=True):
        if not need_dX:
            return None
        np.multiply(dY, self.factor, out=dY, casting="unsafe")  # dL/dx = dL/dy * dy/dx
        return dY

    def get_config(self):
        return {"minimum": self.minimum.tolist(), "maximum": self.maximum.tolist(),
                "inverse": self.inverse, "dtype": np.dtype(self.dtype).name}
