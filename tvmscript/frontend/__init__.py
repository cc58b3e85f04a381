"""Model importers: ONNX models and ``torch.export`` programs become one IRModule whose ``main``
is a graph-level function over the operator library, with the weights as constants.

``from_onnx(path_or_model)`` needs the ``onnx`` package and ``from_exported_program(ep)`` needs
torch; each is imported only when its importer is called.
"""

from __future__ import annotations

from typing import Any


def from_onnx(model: Any, shape_dict: "dict[str, Any] | None" = None,
              dtype_dict: "dict[str, str] | None" = None) -> Any:
    """An ONNX model (a path or an ``onnx.ModelProto``) as an IRModule (``tvmscript.frontend.onnx``)."""
    from .onnx import from_onnx as _from_onnx

    return _from_onnx(model, shape_dict=shape_dict, dtype_dict=dtype_dict)


def from_exported_program(program: Any, **options: Any) -> Any:
    """A ``torch.export.ExportedProgram`` as an IRModule (``tvmscript.frontend.torch``;
    ``options``: ``fold_constants=True``, ``decompose=None``)."""
    from .torch import from_exported_program as _from_ep

    return _from_ep(program, **options)


__all__ = ["from_onnx", "from_exported_program"]
