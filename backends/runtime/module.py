"""The runtime module: compiled kernels called from Python in destination-passing style.

``rt["matmul"](a, b, c)`` checks every argument (rank, shape with size-variable binding, dtype,
layout, alignment, writability of outputs), calls the machine code through ctypes (which
releases the GIL) and turns a failed kernel ``assert`` into ``RuntimeError`` with its message.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .arguments import (
    BufferChecker, as_array, check_deferred, ctype_of, scalar_converter, size_var_values,
)
from .spec import KernelSpec


class Kernel:
    """One compiled loop-level function; call it with arrays and scalars."""

    def __init__(self, spec: KernelSpec, address: int | None, owner: Any) -> None:
        """``address`` None: the machine code is for another machine (``-mtriple``) and was
        not loaded here; calling the kernel is an error, not a jump to address 0."""
        self.spec = spec
        self.name = spec.name
        self._owner = owner  # keeps the machine code alive
        argtypes = [ctypes.c_void_p if p.kind == "buffer" else ctype_of(p.dtype)
                    for p in spec.params]
        argtypes += [ctype_of(s.dtype) for s in spec.size_vars]
        self._cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(address or 0)
        self._nargs = len(spec.params)
        self._buffers = [(i, BufferChecker(spec.name, p)) for i, p in enumerate(spec.params)
                         if p.kind == "buffer"]
        self._scalars = [(i, scalar_converter(spec.name, p)) for i, p in enumerate(spec.params)
                         if p.kind == "scalar"]
        self._static = not spec.size_vars and all(
            c.static_shape is not None and c.contiguous_only for _, c in self._buffers)
        self.__doc__ = f"{spec.name}({', '.join(p.name for p in spec.params)})"
        if address is None:
            self.__call__ = self._not_loaded  # type: ignore[method-assign]
        elif self._static and not self._scalars:
            self.__call__ = self._make_fast_call()  # type: ignore[method-assign]

    def _not_loaded(self, *args: Any) -> None:
        raise RuntimeError(f"{self.name}: this kernel was compiled for another machine and is "
                           "not loaded in this process; export_library() it and load it there")

    def _make_fast_call(self) -> Callable[..., None]:
        """The per-call path of a kernel with only static-shape contiguous buffers: a few
        attribute reads per array; anything unusual falls back to the full check."""
        from .arguments import _DATA_OFFSET, _address_at

        cfunc, nargs, slow_call = self._cfunc, self._nargs, self._checked_call
        expected = [(c.dtype, c.static_shape, c.p.writable, c.itemsize) for _, c in self._buffers]
        ndarray = np.ndarray
        if _DATA_OFFSET is None:
            return slow_call

        def call(*args: Any) -> None:
            if len(args) != nargs:
                return slow_call(*args)
            ptrs = []
            for arg, (dt, shape, writable, itemsize) in zip(args, expected):
                if (type(arg) is not ndarray or arg.dtype is not dt or arg.shape != shape):
                    return slow_call(*args)
                flags = arg.flags
                if not flags.c_contiguous or (writable and not flags.writeable):
                    return slow_call(*args)
                ptr = _address_at(id(arg) + _DATA_OFFSET).value or 0
                if ptr % itemsize:
                    return slow_call(*args)
                ptrs.append(ptr)
            rc = cfunc(*ptrs)
            if rc:
                self._assert_failed(rc)
        return call

    @property
    def address(self) -> int:
        return ctypes.cast(self._cfunc, ctypes.c_void_p).value

    def __call__(self, *args: Any) -> None:
        return self.__dict__.get("__call__", self._checked_call)(*args)

    def _checked_call(self, *args: Any) -> None:
        if len(args) != self._nargs:
            self._arity_error(len(args))
        cargs = list(args)
        if self._static:
            for i, checker in self._buffers:
                ptr = checker.fast(args[i])
                cargs[i] = ptr if ptr is not None else self._slow(checker, args[i], {}, [], cargs)
            extra: list[int] = []
        else:
            env: dict[str, int] = {}
            deferred: list = []
            for i, checker in self._buffers:
                cargs[i] = self._slow(checker, args[i], env, deferred, cargs)
            check_deferred(deferred, env)
            extra = size_var_values(self.spec, env)
        for i, convert in self._scalars:
            cargs[i] = convert(args[i])
        rc = self._cfunc(*cargs[: self._nargs], *extra)
        if rc:
            self._assert_failed(rc)

    def _slow(self, checker: BufferChecker, arg: Any, env, deferred, keep: list) -> int:
        arr = as_array(arg, checker.where)
        if arr is not arg:
            keep.append(arr)  # the view must outlive the call
        return checker.check(arr, env, deferred)

    def _arity_error(self, got: int) -> None:
        names = ", ".join(p.name for p in self.spec.params)
        raise TypeError(f"{self.name}() takes {self._nargs} arguments ({names}) but {got} "
                        f"{'was' if got == 1 else 'were'} given")

    def _assert_failed(self, rc: int) -> None:
        messages = self.spec.assert_messages
        if 0 < rc <= len(messages):
            raise RuntimeError(f"{self.name}: assertion failed: {messages[rc - 1]}")
        raise RuntimeError(f"{self.name}: kernel returned error code {rc}")

    def __repr__(self) -> str:
        return f"<Kernel {self.__doc__}>"


class RuntimeModule:
    """Compiled functions by name; ``export_library`` writes them to a shared library."""

    def __init__(self, kernels: dict[str, Kernel], owner: Any = None,
                 exporter: Callable[[str], None] | None = None, source: str = "",
                 graph: Any = None) -> None:
        self.kernels = _GuardedKernels(kernels, self)
        self._owner = owner
        self._exporter = exporter
        self._source = source
        self._graph = graph  # an executor for graph-level functions, when the module has them

    cross_reason: str | None = None  # set when the code must not run here (another CPU)
    needs: tuple[str, ...] = ()  # what the process must be granted to run it ("amx")
    permission_reason: str | None = None  # set when the operating system refused a need
    library_path: str | None = None  # the library a loaded module came from

    def check_runnable(self) -> None:
        """Raise when this module's code must not run in this process (another CPU, or a
        permission the operating system refused): it would die of an illegal instruction."""
        if self.cross_reason is not None:
            raise RuntimeError(f"this module cannot run in this process: {self.cross_reason}; "
                               "export_library() it and load it on that machine, or build "
                               "for this one (-mcpu=native, no -mtriple)")
        if self.permission_reason is not None:
            raise RuntimeError(f"this module cannot run in this process: "
                               f"{self.permission_reason}")

    def __getitem__(self, name: str) -> Callable[..., Any]:
        self.check_runnable()
        if name in self.kernels:
            return self.kernels[name]
        if self._graph is not None and name in self._graph_names():
            return self._graph.__getitem__(name)
        raise KeyError(f"module has no function {name!r}; it has {sorted(self.keys())}")

    def _graph_names(self) -> list[str]:
        names = getattr(self._graph, "function_names", None)
        return list(names() if callable(names) else names or [])

    def __contains__(self, name: object) -> bool:
        return name in self.kernels or (self._graph is not None and name in self._graph_names())

    def keys(self) -> list[str]:
        return [*self.kernels, *(self._graph_names() if self._graph is not None else [])]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def memory_stats(self, name: str = "main") -> dict:
        """Planned and unplanned bytes of the intermediates of graph function ``name``."""
        if self._graph is None:
            raise TypeError("this module has no graph-level functions")
        return self._graph.memory_stats(name)

    def get_source(self, fmt: str = "ll") -> str:
        """The LLVM IR (after optimisation) this module was compiled from (``"ll"``), or its
        machine code as assembly (``"asm"``) for modules built here."""
        if fmt != "ll":
            raise ValueError(f"get_source({fmt!r}): this module only has its LLVM IR")
        return self._source

    def export_library(self, path: str) -> None:
        """Write a shared library that ``load_module(path)`` loads without recompiling; a
        model's library also carries its graph-level functions and weights (one file) and
        runs from C through ``tvmscript_model.h`` (``backends/runtime/c_api.py``)."""
        if self._exporter is None:
            raise NotImplementedError("this module cannot be exported")
        if self._graph is None or self.library_path is not None:  # kernels, or a copy
            self._exporter(str(path))
            return
        from .c_api import model_payload

        specs = {name: kernel.spec for name, kernel in self.kernels._kernels.items()}
        self._exporter(str(path), model_payload(self._graph.mod, specs, self.needs))

    def __repr__(self) -> str:
        return f"<RuntimeModule {sorted(self.keys())}>"


class _GuardedKernels(Mapping):
    """``rt.kernels``: the kernels by name, handed out only when the module may run here."""

    def __init__(self, kernels: dict[str, Kernel], module: RuntimeModule) -> None:
        self._kernels = kernels
        self._module = module

    def __getitem__(self, name: str) -> Kernel:
        kernel = self._kernels[name]
        self._module.check_runnable()
        return kernel

    def __iter__(self) -> Iterator[str]:
        return iter(self._kernels)

    def __len__(self) -> int:
        return len(self._kernels)

    def __contains__(self, name: object) -> bool:
        return name in self._kernels
