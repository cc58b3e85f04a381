"""What the ONNX importer's modules share: its errors, ``Node`` (one ONNX node as converters
see it) and the tables of converters and import-time folders, filled by ``@converter`` and
``@folder`` when the converter modules are imported (``tvmscript.frontend.onnx`` imports them
all)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .onnx_importer import _Importer

Value = Any  # a graph expression (GraphVar, Constant), a numpy array known at import time, None


class OnnxImportError(ValueError):
    """The model cannot be imported as given (not ONNX, bad attribute, unknown input shape)."""

    __module__ = "tvmscript.frontend.onnx"  # where users import it from (tracebacks say so)


class UnsupportedOperatorError(NotImplementedError):
    """An ONNX operator (or one of its forms) that the importer does not convert."""

    __module__ = "tvmscript.frontend.onnx"


class Node:
    """One ONNX node as converters see it: inputs as values, attributes as Python values."""

    def __init__(self, proto: Any, inputs: list[Value], opset: int,
                 consumed: set[str] | frozenset[str] = frozenset()) -> None:
        from onnx import helper

        self.proto = proto
        self.consumed = consumed
        self.op_type: str = proto.op_type
        self.name: str = proto.name or (proto.output[0] if proto.output else proto.op_type)
        self.inputs = inputs
        self.opset = opset
        self.outputs: list[str] = list(proto.output)
        self.attrs: dict[str, Any] = {}
        for a in proto.attribute:
            value = helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode()
            elif a.type == a.TENSOR:
                value = _tensor(value)
            elif isinstance(value, list) and value and isinstance(value[0], bytes):
                value = [v.decode() for v in value]
            self.attrs[a.name] = value

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> Value:
        return self.inputs[i] if i < len(self.inputs) else None

    def wants(self, i: int) -> bool:
        """Whether output ``i`` is used by a node or the graph (optional outputs, like
        Dropout's mask, are often named without being used)."""
        return i < len(self.outputs) and self.outputs[i] in self.consumed

    def error(self, message: str) -> OnnxImportError:
        return OnnxImportError(f"{self.where()}: {message}")

    def unsupported(self, message: str) -> UnsupportedOperatorError:
        return UnsupportedOperatorError(f"{self.where()}: {message}")

    def where(self) -> str:
        return f"ONNX node {self.name!r} ({self.op_type}, opset {self.opset})"


def _tensor(proto: Any) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(proto)


# ---------------------------------------------------------------- registration

Converter = Callable[["_Importer", Node], Any]
_CONVERTERS: dict[str, Converter] = {}
_FOLDERS: dict[str, Callable[..., Any]] = {}


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the converter of ONNX ``op_types`` (one function may serve several)."""

    def wrap(fn: Converter) -> Converter:
        for op in op_types:
            if op in _CONVERTERS:
                raise ValueError(f"ONNX operator {op} already has a converter")
            _CONVERTERS[op] = fn
        return fn

    return wrap


def folder(*op_types: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the import-time evaluation of ``op_types`` when all inputs are known."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for op in op_types:
            _FOLDERS[op] = fn
        return fn

    return wrap


def supported_operators() -> list[str]:
    """The ONNX op types that have a converter."""
    return sorted(_CONVERTERS)
