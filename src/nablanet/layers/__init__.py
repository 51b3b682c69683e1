"""Layers: parameters, forward and backward over whole mini-batches (see
:mod:`nablanet.layers.base` for the contract). Importing this package registers every
layer kind by name."""

from nablanet.layers.base import Layer
from nablanet.layers.conv import Conv2D
from nablanet.layers.dense import Activation, Dense
from nablanet.layers.dropout import Dropout
from nablanet.layers.pool import MaxPool2D
from nablanet.layers.recurrent import GRULayer, LSTMLayer, Recurrent, RNNLayer
from nablanet.layers.scaling import MinMaxScaling
from nablanet.layers.shape import Flatten

__all__ = ["Activation", "Conv2D", "Dense", "Dropout", "Flatten", "GRULayer", "LSTMLayer",
           "Layer", "MaxPool2D", "MinMaxScaling", "RNNLayer", "Recurrent"]
