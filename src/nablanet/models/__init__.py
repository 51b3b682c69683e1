"""Models: :class:`Sequential` (a stack of layers with the one ``fit``/``predict``/
``evaluate``/``save`` path), :class:`Network` (the book's feedforward network, a Dense
stack), the recurrent :class:`RNN`, :class:`LSTM`, :class:`GRU`, and an
:class:`Ensemble` of trained classifiers. Importing this
package registers every model by name (:mod:`nablanet.registry`, kind ``"model"``)."""

from nablanet.models.ensemble import Ensemble
from nablanet.models.feedforward import Network
from nablanet.models.recurrent import GRU, LSTM, RNN, RecurrentNetwork
from nablanet.models.sequential import Sequential

__all__ = ["GRU", "LSTM", "RNN", "Ensemble", "Network", "RecurrentNetwork", "Sequential"]
