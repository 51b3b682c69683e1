"""nablanet: feedforward and recurrent neural networks from scratch on NumPy.

>>> from nablanet import Network
>>> net = Network([784, 30, 10], seed=1)      # the book's chapter 1 network

Public API: :class:`Sequential` (any stack of layers, :mod:`nablanet.layers`),
:class:`Network` (feedforward), :class:`RNN`, :class:`LSTM`, :class:`GRU`
(:mod:`nablanet.models`), :func:`load`/:func:`save` (:mod:`nablanet.serialization`),
the optimizers of
:mod:`nablanet.optimizers`, schedules, early stopping and the callback protocol of
:mod:`nablanet.training`, the checkpoint, JSON Lines, TensorBoard and gradient-norm callbacks of
:mod:`nablanet.callbacks`, :mod:`nablanet.datasets` and :mod:`nablanet.metrics`;
:func:`tune` runs hyper-parameter sweeps (:mod:`nablanet.tune`).
"""

from nablanet import layers
from nablanet.callbacks import GradientNorms, JSONLinesLogger, ModelCheckpoint, TensorBoard
from nablanet.models import GRU, LSTM, RNN, Network, Sequential
from nablanet.optimizers import SGD, Adam, RMSProp
from nablanet.serialization import load, save
from nablanet.training import (
    Callback,
    CosineAnnealing,
    EarlyStopping,
    ExponentialDecay,
    ReduceOnPlateau,
    StepDecay,
    TrainingDiverged,
)
from nablanet.tune import tune  # sweeps; Optuna and Dask are imported when one runs

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "Callback",
    "CosineAnnealing",
    "EarlyStopping",
    "ExponentialDecay",
    "GradientNorms",
    "JSONLinesLogger",
    "ModelCheckpoint",
    "Network",
    "RMSProp",
    "ReduceOnPlateau",
    "Sequential",
    "StepDecay",
    "TensorBoard",
    "TrainingDiverged",
    "layers",
    "load",
    "save",
    "tune",
]
