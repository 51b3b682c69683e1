"""The NumPy training step of a :class:`nablanet.models.sequential.Sequential`: a
mini-batch gathered by index into work buffers made once per ``fit``, the forward pass,
the output error ``dL/dz`` (BP1) weighted for the mini-batch mean, and the backward pass
in reverse, leaving the mini-batch's gradient in the layers' ``grads``. It is the
container's ``forward`` and ``backward`` loops written out, because it runs once per
step: neither it nor the layers allocate per call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["gradient_step"]


def gradient_step(model, data: tuple, batch_size: int,
                  record: np.ndarray | None = None) -> Callable[[np.ndarray], None]:
    """A function of the indices of a mini-batch (at most ``batch_size``) that
    gathers it into work buffers made here, once, runs the forward and backward
    passes, and leaves the gradient of the mini-batch mean in ``model.grads()``: the
    layers allocate nothing; this allocates nothing per call.

    ``record``, an array ``(n, *output_shape)`` of the model's dtype, receives each
    trained sample's output ``z`` of the training pass at its index: the training
    metrics of an epoch are computed from it once (see ``fit``'s ``monitor_training``).
    """
    X, T, W = data
    dt = model.dtype
    full = {k: np.empty((batch_size, *T.shape[1:]), dtype=dt) for k in "tadw"}
    full["x"] = np.empty((batch_size, *X.shape[1:]), dtype=dt)
    if W is not None:  # per-row weights of the loss: 0 on unlabelled steps
        full["r"] = np.empty((batch_size, *W.shape[1:]), dtype=dt)
    views = {m: {k: v[:m] for k, v in full.items()}
             for m in {batch_size, len(X) % batch_size} - {0}}
    bufs = {m: (b["x"], b["t"], b["a"], b["d"], b["w"], b.get("r"))
            for m, b in views.items()}
    g, loss = model.output_activation, model.loss
    # the loops of forward() and backward(), written out: this runs once per step
    layers, first, upper = list(model.layers), model.layers[0], model.layers[:0:-1]

    def gradient(batch: np.ndarray) -> None:
        m = len(batch)
        x, t, a, d, w, r = bufs[m]
        X.take(batch, axis=0, out=x)  # the method: no dispatch layers per call
        T.take(batch, axis=0, out=t)
        for layer in layers:
            x = layer.forward(x, True)
        if record is not None:
            record[batch] = x
        g.forward(x, a)
        delta = loss.delta(a, t, g, d, w)  # dL/dz (BP1)
        if r is None:
            delta *= 1.0 / m               # the mini-batch mean
        else:
            W.take(batch, axis=0, out=r)
            r *= 1.0 / m
            delta *= r[..., None]
        for layer in upper:
            delta = layer.backward(delta)
        first.backward(delta, need_dX=False)

    return gradient
