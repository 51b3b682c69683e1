"""nablanet: feedforward and recurrent neural networks from scratch on NumPy.

>>> from nablanet import Network
>>> net = Network([784, 30, 10], seed=1)      # the book's chapter 1 network

Public API: :class:`Network` (feedforward, :mod:`nablanet.mlp`), :class:`RNN`,
:class:`LSTM`, :class:`GRU` (:mod:`nablanet.rnn`), the optimizers of
:mod:`nablanet.optimizers`, schedules and early stopping of :mod:`nablanet.training`,
:mod:`nablanet.datasets` and :mod:`nablanet.metrics`; :func:`tune` runs hyper-parameter
sweeps (:mod:`nablanet.tune`).
"""

from nablanet.io import load, save
from nablanet.mlp import Network
from nablanet.optimizers import SGD, Adam, RMSProp
from nablanet.rnn import GRU, LSTM, RNN
from nablanet.training import (
    CosineAnnealing,
    EarlyStopping,
    ExponentialDecay,
    ReduceOnPlateau,
    StepDecay,
)
from nablanet.tune import tune  # sweeps; Optuna and Dask are imported when one runs

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
    "StepDecay",
    "load",
    "save",
    "tune",
]
