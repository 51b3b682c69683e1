"""Layers: parameters, forward and backward over whole mini-batches (see
:mod:`nablanet.layers.base` for the contract). Importing this package registers every
layer kind by name."""

from nablanet.layers.base import Layer
from nablanet.layers.dense import Activation, Dense
from nablanet.layers.recurrent import GRULayer, LSTMLayer, Recurrent, RNNLayer

__all__ = ["Activation", "Dense", "GRULayer", "LSTMLayer", "Layer", "RNNLayer", "Recurrent"]
