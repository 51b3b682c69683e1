"""Conversions to and from other formats: ONNX (:mod:`nablanet.interop.onnx`) and PyTorch
(:mod:`nablanet.interop.torch`). Each is an extra, imported on use."""
