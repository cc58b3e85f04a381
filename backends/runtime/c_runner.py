"""A loaded model library's graph functions called through its C entry (``tvmscript_model.h``).

The Python graph executor steps through a model's bindings one kernel call at a time, a few
microseconds of Python each; the library's generated C entry does the same steps in one call.
For a model of a few small kernels (an MLP, a DQN) those microseconds are a large part of an
inference, so ``load_module`` routes each graph function the C entry can run through it
(``NativeGraphFunction``). Only the common case takes the C path — every argument a C-contiguous
numpy array of exactly the declared dtype and shape — and anything else (a list, another dtype,
a wrong shape, a strided view) goes to the Python executor, which handles it exactly as it does
without a C entry (views it accepts, mistakes get its precise errors); both compute the same
values with the same kernels.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import numpy as np

from tvmscript.ir import graph as G

from .arguments import numpy_dtype


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_char_p), ("ndim", ctypes.c_int),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("nbytes", ctypes.c_size_t)]


def _bind(lib: ctypes.CDLL) -> Any:
    """The C entry's functions with their signatures, or None when the library has none."""
    try:
        create = lib.tvmscript_model_create
    except AttributeError:
        return None
    create.restype, create.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.tvmscript_model_destroy.argtypes = [ctypes.c_void_p]
    lib.tvmscript_model_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.tvmscript_model_run.restype = ctypes.c_int
    lib.tvmscript_last_error.restype = ctypes.c_char_p
    for name in ("tvmscript_model_input", "tvmscript_model_output"):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.POINTER(_TensorInfo)
    for name in ("tvmscript_model_num_inputs", "tvmscript_model_num_outputs"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    return lib


def _infos(lib: Any, model: int, count: int, getter: str) -> list[tuple[tuple[int, ...], Any]]:
    out = []
    for i in range(count):
        info = getattr(lib, getter)(model, i).contents
        shape = tuple(info.shape[d] for d in range(info.ndim))
        out.append((shape, numpy_dtype(info.dtype.decode())))
    return out


class NativeGraphFunction:
    """A graph function run by the library's C entry, with the Python executor as fallback for
    arguments the C path does not take as they are. One C model object (its workspace) per
    thread, as the header requires."""

    def __init__(self, lib: Any, name: str, fallback: Any, single: bool) -> None:
        self.name, self.fallback, self._lib, self._single = name, fallback, lib, single
        self._local = threading.local()
        model = self._model()
        self.inputs = _infos(lib, model, lib.tvmscript_model_num_inputs(model),
                             "tvmscript_model_input")
        self.outputs = _infos(lib, model, lib.tvmscript_model_num_outputs(model),
                              "tvmscript_model_output")
        self._in_array = ctypes.c_void_p * len(self.inputs)
        self._out_array = ctypes.c_void_p * len(self.outputs)

    def _model(self) -> int:
        model = getattr(self._local, "model", None)
        if model is None:
            model = self._lib.tvmscript_model_create(self.name.encode())
            if not model:
                raise RuntimeError(self._lib.tvmscript_last_error().decode())
            self._local.model = model
            weakref.finalize(self._local, self._lib.tvmscript_model_destroy, model)
        return model

    def __call__(self, *args: Any) -> Any:
        inputs = self.inputs
        if len(args) != len(inputs):
            return self.fallback(*args)
        for arg, (shape, dtype) in zip(args, inputs):
            if type(arg) is not np.ndarray or arg.dtype != dtype or arg.shape != shape \
                    or not arg.flags.c_contiguous:
                return self.fallback(*args)
        outs = [np.empty(shape, dtype) for shape, dtype in self.outputs]
        rc = self._lib.tvmscript_model_run(
            self._model(), self._in_array(*[a.ctypes.data for a in args]),
            self._out_array(*[o.ctypes.data for o in outs]))
        if rc:
            raise RuntimeError(self._lib.tvmscript_last_error().decode())
        return outs[0] if self._single else tuple(outs)

    def memory_stats(self) -> dict[str, Any]:
        return self.fallback.memory_stats()

    def __repr__(self) -> str:
        return f"<NativeGraphFunction {self.name} (C entry)>"


def native_functions(lib: ctypes.CDLL, exe: Any) -> dict[str, NativeGraphFunction]:
    """The graph functions of ``exe`` that the library's C entry runs, wrapped; those it cannot
    run (symbolic shapes, nested tuple results) stay with the Python executor."""
    bound = _bind(lib)
    if bound is None:
        return {}
    out = {}
    for name, func in exe.mod.functions.items():
        if not isinstance(func, G.Function):
            continue
        ret = func.ret_struct_info
        single = isinstance(ret, G.TensorStructInfo)
        flat = isinstance(ret, G.TupleStructInfo) and all(
            isinstance(f, G.TensorStructInfo) for f in ret.fields)
        if not (single or flat):
            continue
        try:
            out[name] = NativeGraphFunction(bound, name, exe[name], single)
        except RuntimeError:  # the C entry refuses this function: the executor runs it
            continue
    return out


__all__ = ["NativeGraphFunction", "native_functions"]
