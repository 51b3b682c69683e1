"""nablanet: feedforward and recurrent neural networks from scratch on NumPy.

>>> from nablanet import Network
>>> net = Network([784, 30, 10], seed=1)      # the book's chapter 1 network

Public API: :class:`Sequential` (any stack of layers, :mod:`nablanet.layers`),
:class:`Network` (feedforward), :class:`RNN`, :class:`LSTM`, :class:`GRU`
(:mod:`nablanet.models`), :func:`load`/:func:`save` (:mod:`nablanet.serialization`),
the optimizers of
:mod:`nablanet.optimizers`, schedules and early stopping of :mod:`nablanet.training`,
:mod:`nablanet.datasets` and :mod:`nablanet.metrics`.
"""

from nablanet import layers
from nablanet.models import GRU, LSTM, RNN, Network, Sequential
from nablanet.optimizers import SGD, Adam, RMSProp
from nablanet.serialization import load, save
from nablanet.training import (
    CosineAnnealing,
    EarlyStopping,
    ExponentialDecay,
    ReduceOnPlateau,
    StepDecay,
    TrainingDiverged,
)

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "CosineAnnealing",
    "EarlyStopping",
    "ExponentialDecay",
    "Network",
    "RMSProp",
    "ReduceOnPlateau",
    "Sequential",
    "StepDecay",
    "TrainingDiverged",
    "layers",
    "load",
    "save",
]
