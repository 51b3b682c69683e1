"""The layer contract: parameters, a forward pass and a backward pass, nothing else.

A layer works on whole mini-batches, batch-major (the first axis is the sample). It
creates its parameter arrays in ``__init__`` from explicit sizes and names them in
:attr:`Layer.param_names`; its gradients, in the same order, land in :attr:`Layer.grads`
after :meth:`Layer.backward`. Work buffers (outputs, deltas, scratch) are made by
:meth:`Layer.allocate` once for the largest mini-batch of a fit and reused as views of
their first axis, so a training step allocates nothing.

A model (:class:`nablanet.models.sequential.Sequential`) is the loop over layers:
forward in order, backward in reverse, each layer's ``backward`` returning ``dL/dX`` for
the layer below. Adding a layer kind is one subclass, registered by name where it is
defined, and a gradient-check test.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

__all__ = ["Layer"]


class Layer:
    """Base class of every layer.

    Subclasses define ``param_names`` (attribute names of the parameter arrays, in a
    fixed order; names starting with ``W`` are the weights that L2 regularisation
    decays, the rest, such as biases, are not decayed) and implement :meth:`allocate`,
    :meth:`forward`, :meth:`backward` and :meth:`get_config`.

    Attributes
    ----------
    grads : list of ndarray
        ``dL/dp`` for each parameter ``p`` of :meth:`params`, same shapes and order;
        written by :meth:`backward`.
    dtype : numpy dtype
        float64 or float32; inputs and parameters share it.
    """

    param_names: ClassVar[tuple[str, ...]] = ()
    dtype: Any = np.float64
    grads: list[np.ndarray]

    def params(self) -> list[np.ndarray]:
        """The parameter arrays, in the order of :attr:`param_names`."""
        return [getattr(self, n) for n in self.param_names]

    def decay_flags(self) -> list[bool]:
        """For each parameter, whether weight decay (L2) applies: the ``W*`` arrays."""
        return [n.startswith("W") for n in self.param_names]

    def count_params(self) -> int:
        """Number of scalar parameters."""
        return int(sum(p.size for p in self.params()))

    def allocate(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Make the work buffers for mini-batches of up to ``input_shape[0]`` samples of
        shape ``input_shape[1:]``, and return the output shape ``(m, ...)``.

        Raises
        ------
        ValueError
            If ``input_shape`` does not fit the layer (the message names the layer).
        """
        raise NotImplementedError

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """Output for the mini-batch ``X``; a view of a work buffer, valid until the
        next call. ``training`` switches on what only training does (dropout)."""
        raise NotImplementedError

    def backward(self, dY: np.ndarray, need_dX: bool = True) -> np.ndarray | None:
        """Given ``dY = dL/dY`` for the last :meth:`forward` (``dY`` may be overwritten),
        write the parameter gradients into :attr:`grads` and return ``dL/dX`` (None when
        ``need_dX`` is False: the first layer skips that product)."""
        raise NotImplementedError

    def forward_macs(self, output_shape: tuple[int, ...]) -> int:
        """Multiply-adds of this layer's forward products for one sample whose output
        has shape ``output_shape[1:]`` (0 for a layer without products): the work
        estimate by which ``fit`` decides whether a mini-batch's rows are worth
        splitting across threads (:func:`nablanet.parallel.split_workers`)."""
        return 0

    def replica(self) -> Layer:
        """A twin for a worker thread: it shares this layer's parameter arrays (an
        optimizer step updates both) and has gradients of its own, and work buffers of
        its own once its :meth:`allocate` has made them (see
        :mod:`nablanet.models.gradient_step`)."""
        twin = copy.copy(self)
        twin.grads = [np.empty_like(g) for g in self.grads]
        return twin

    def share_draws(self, m: int, twins: list[Layer], parts: list[tuple[int, int]]) -> None:
        """Before the rows of an ``m``-row training mini-batch are split across
        ``twins`` (twin ``k`` gets rows ``parts[k]``): make the random draws of the
        whole mini-batch, as an unsplit forward pass would, and give each twin its
        rows, so that splitting changes no draw. Only layers that draw override it."""

    def get_config(self) -> dict:
        """The constructor arguments, JSON-ready; ``type(self).from_config`` of it
        builds an equal layer (with freshly drawn parameters)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        """Build a layer from :meth:`get_config`'s dict."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
