"""The NumPy training step of a :class:`nablanet.models.sequential.Sequential`: a
mini-batch gathered by index into work buffers made once per ``fit``, the forward pass,
the output error ``dL/dz`` (BP1) weighted for the mini-batch mean, and the backward pass
in reverse, leaving the mini-batch's gradient in the layers' ``grads``. It is the
container's ``forward`` and ``backward`` loops written out, because it runs once per
step: neither it nor the layers allocate per call.

Inside a :func:`nablanet.parallel.workers` block of several workers, the rows of a
mini-batch split across them: worker ``k`` runs the same step on its rows through its
own replica of the layers (:meth:`~nablanet.layers.base.Layer.replica`: the parameters
shared, buffers and gradients its own), the random draws of the whole mini-batch made
first (:meth:`~nablanet.layers.base.Layer.share_draws`), and the workers' gradients
are summed into the layers' ``grads`` in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nablanet.parallel import row_parts, run_parts

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
    # parts -> (one replica of the layers per worker, each replica's gradients)
    stacks: dict[int, tuple[list[list], list[list[np.ndarray]]]] = {}

    def rows(layers: list, batch: np.ndarray, x, t, a, d, w, r, m: int) -> None:
        """Forward and backward through ``layers`` of the gathered rows ``x`` (their
        indices ``batch``) of a mini-batch of ``m`` rows; ``r``: their loss weights,
        already divided by ``m``."""
        for layer in layers:
            x = layer.forward(x, True)
        if record is not None:
            record[batch] = x
        g.forward(x, a)
        delta = loss.delta(a, t, g, d, w)  # dL/dz (BP1)
        if r is None:
            delta *= 1.0 / m               # the mini-batch mean
        else:
            delta *= r[..., None]
        for layer in layers[:0:-1]:
            delta = layer.backward(delta)
        layers[0].backward(delta, need_dX=False)

    def replicas(n: int) -> tuple[list[list], list[list[np.ndarray]]]:
        """``n`` replicas of the layers, with buffers for a worker's rows, and their
        gradients (made once)."""
        if n not in stacks:
            workers = []
            for _ in range(n):
                stack, shape = [layer.replica() for layer in model.layers], \
                    (-(-batch_size // n), *X.shape[1:])
                for layer in stack:
                    shape = layer.allocate(shape)
                workers.append(stack)
            stacks[n] = workers, [[gr for layer in stack for gr in layer.grads]
                                  for stack in workers]
        return stacks[n]

    layers, grads = list(model.layers), model.grads()

    def gradient(batch: np.ndarray) -> None:
        m = len(batch)
        x, t, a, d, w, r = bufs[m]
        X.take(batch, axis=0, out=x)  # the method: no dispatch layers per call
        T.take(batch, axis=0, out=t)
        if r is not None:
            W.take(batch, axis=0, out=r)
            r *= 1.0 / m
        parts = row_parts(m)
        if len(parts) == 1:
            rows(layers, batch, x, t, a, d, w, r, m)
            return
        workers, part_grads = replicas(len(parts))
        for k, layer in enumerate(layers):  # dropout masks: drawn as in one part
            layer.share_draws(m, [stack[k] for stack in workers], parts)

        def part(k: int) -> None:
            lo, hi = parts[k]
            rows(workers[k], batch[lo:hi], x[lo:hi], t[lo:hi], a[lo:hi], d[lo:hi],
                 w[lo:hi], None if r is None else r[lo:hi], m)

        run_parts(part, len(parts))
        for i, total in enumerate(grads):  # summed in worker order: the same every run
            np.add(part_grads[0][i], part_grads[1][i], out=total)
            for more in part_grads[2:]:
                total += more[i]

    return gradient
