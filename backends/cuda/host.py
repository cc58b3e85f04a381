"""Runs the host function of ``lower_gpu``'s output against a ``Device``: argument checks,
shape asserts, global intermediates, and kernel launches.

Why interpret rather than compile the host side: it is a handful of statements (lets, asserts,
allocations, launches) whose cost is nothing next to a launch, and one runner then serves the
GPU (``launch.PyCUDADevice``) and the CPU emulator (``module.EmulatorDevice``) alike. Argument
checks are the CPU runtime's (``backends/runtime/arguments.py``), so a wrong array gets the same
message naming the function and the parameter on every target. Two more checks are the GPU's:
an argument a kernel writes may not share memory with another (kernel pointers are
``__restrict__``), and a device array used in place must be aligned for the vector accesses
its kernels make.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Protocol, Self

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tvmscript.ir import PrimFunc, Var
from tvmscript.ir import expr as E
from tvmscript.ir import stmt as S
from tvmscript.schedule.reduction import vars_of

from ..interpreter.arguments import compile_lambda
from ..runtime.arguments import BufferChecker, as_array, check_deferred, check_scalar
from ..runtime.spec import KernelSpec, written_data_vars
from ..signature import BufferParam, KernelSignature
from .launch_info import dynamic_shared_layout, launch_dims


class Device(Protocol):
    """Where kernels run: the GPU through pycuda, or the emulator on numpy arrays. A call
    runs inside ``with device:`` (pycuda makes its context current there)."""

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...

    def upload(self, arr: np.ndarray) -> Any: ...  # a numpy argument, as the kernel sees it
    def wrap(self, arg: Any, meta: DeviceArray) -> Any: ...  # a device array, used in place
    def download(self, handle: Any, arr: np.ndarray) -> None: ...  # results back to numpy
    def alloc(self, size: int, dtype: str) -> Any: ...
    def free(self, handle: Any) -> None: ...
    def launch(self, name: str, kernel: PrimFunc, grid: tuple[int, int, int],
               block: tuple[int, int, int], shared_bytes: int, args: list[Any]) -> None: ...
    def synchronize(self) -> None: ...


class DeviceArray:
    """The metadata of an array in GPU memory (``__cuda_array_interface__``), shaped like a
    numpy array so the runtime's ``BufferChecker`` checks it with the same messages."""

    class _Flags:
        def __init__(self, contiguous: bool, writeable: bool) -> None:
            self.c_contiguous, self.writeable = contiguous, writeable

    def __init__(self, interface: dict) -> None:
        self.shape = tuple(int(s) for s in interface["shape"])
        self.dtype = np.dtype(interface["typestr"])
        self.ndim = len(self.shape)
        self.pointer, readonly = interface["data"]
        contiguous = _c_strides(self.shape, self.dtype.itemsize)
        self.strides = tuple(interface.get("strides") or contiguous)
        self.flags = self._Flags(self.strides == contiguous or math.prod(self.shape) <= 1,
                                 not readonly)
        self.__array_interface__ = {"data": (self.pointer, readonly)}


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def device_array_interface(arg: Any) -> dict | None:
    """``arg``'s ``__cuda_array_interface__``, also for DLPack tensors on a GPU (through torch
    when it is installed); None for host arrays."""
    interface = getattr(arg, "__cuda_array_interface__", None)
    if interface is not None:
        return interface
    device = getattr(arg, "__dlpack_device__", None)
    if device is not None and device()[0] in (2, 13):  # kDLCUDA, kDLCUDAManaged
        try:
            import torch.utils.dlpack
        except ImportError:
            raise TypeError("a DLPack tensor on the GPU without __cuda_array_interface__ needs "
                            "torch to be read; pass a torch or cupy array") from None
        return torch.utils.dlpack.from_dlpack(arg).__cuda_array_interface__
    return None


class HostFunction:
    """``f(*args)``: checks the arguments, then runs host function ``f`` on a device."""

    def __init__(self, name: str, func: PrimFunc, kernels: dict[str, PrimFunc],
                 device: Callable[[], Device],
                 vector_bytes: Mapping[str, Mapping[int, int]] | None = None) -> None:
        self.name, self.func, self.kernels, self._device = name, func, kernels, device
        self.sig = KernelSignature.of(func)
        self.written = _written_by_launches(func.body, kernels)
        # host data var -> the alignment in bytes its kernels' vector accesses need
        self.alignment = _alignment_by_launches(func.body, kernels, vector_bytes or {})
        spec = KernelSpec.of(name, name, func)
        params = tuple(replace(ps, writable=isinstance(p, BufferParam)
                               and p.buffer.data in self.written)
                       for ps, p in zip(spec.params, self.sig.params))
        self.spec = replace(spec, params=params)
        self.checkers = {p.index: BufferChecker(name, self.spec.params[p.index])
                         for p in self.sig.buffer_params}
        self.launches = {k: (launch_dims(f), dynamic_shared_layout(f)[1])
                         for k, f in kernels.items()}
        self.__doc__ = f"{name}({', '.join(p.name for p in self.spec.params)})"

    def __call__(self, *args: Any) -> None:
        device = self._device()
        if len(args) != len(self.spec.params):
            names = ", ".join(p.name for p in self.spec.params)
            raise TypeError(f"{self.name}() takes {len(self.spec.params)} arguments ({names}) "
                            f"but {len(args)} {'was' if len(args) == 1 else 'were'} given")
        with device:
            env, copies = self._bind(args, device)
            try:
                _Runner(self, device, env).run(self.func.body)
                device.synchronize()
                for var, handle, arr in copies:
                    if var in self.written:
                        device.download(handle, arr)
            finally:
                for _, handle, _ in copies:
                    device.free(handle)

    def _bind(self, args: Sequence[Any], device: Device) -> tuple[dict, list]:
        names: dict[str, int] = {}
        deferred: list = []
        env: dict[Var, Any] = {}
        arrays: list[tuple[Var, Any, Any]] = []  # (data var, argument, numpy or DeviceArray)
        for p, arg in zip(self.sig.params, args):
            if p.index not in self.checkers:
                where = f"{self.name}: argument '{p.name}'"
                env[p.var] = check_scalar(where, str(p.var.dtype), arg)
                continue
            checker = self.checkers[p.index]
            interface = device_array_interface(arg)
            meta = DeviceArray(interface) if interface is not None else as_array(arg,
                                                                                 checker.where)
            checker.check(meta, names, deferred)
            arrays.append((p.buffer.data, arg, meta))
        check_deferred(deferred, names)
        self._check_alignment(arrays)
        self._check_aliasing(arrays)
        for sv, spec in zip(self.sig.size_vars, self.spec.size_vars):
            env[sv.var] = 0 if sv.field == "elem_offset" else names[spec.name]
        copies = []
        try:
            for var, arg, meta in arrays:
                if isinstance(meta, DeviceArray):
                    env[var] = device.wrap(arg, meta)
                else:
                    flat = flat_view(meta)
                    env[var] = device.upload(flat)
                    copies.append((var, env[var], flat))
        except BaseException:
            for _, handle, _ in copies:
                device.free(handle)
            raise
        return env, copies

    def _check_alignment(self, arrays: list[tuple[Var, Any, Any]]) -> None:
        """A device array used in place must be aligned for the kernel's vector accesses
        (``float4`` loads need 16 bytes); copies are allocated aligned by the driver."""
        for p, (var, _, meta) in zip(self.sig.buffer_params, arrays):
            need = self.alignment.get(var, 1)
            if isinstance(meta, DeviceArray) and int(meta.pointer) % need:
                raise ValueError(f"{self.name}: argument '{p.name}' is at address "
                                 f"{int(meta.pointer):#x}, not a multiple of {need} bytes; "
                                 f"its kernel reads or writes it with {need}-byte vectors "
                                 "(pass an array that starts at an aligned address)")

    def _check_aliasing(self, arrays: list[tuple[Var, Any, Any]]) -> None:
        """Two arguments over the same memory where a kernel writes one of them: the kernels'
        pointers are ``__restrict__`` (no aliasing), so the result would be undefined.
        Reading one array through two parameters is fine."""
        spans = [(p, var, _byte_span(meta)) for p, (var, _, meta)
                 in zip(self.sig.buffer_params, arrays)]
        for i, (p, var, (lo, hi)) in enumerate(spans):
            for q, other, (lo2, hi2) in spans[i + 1:]:
                if (var in self.written or other in self.written) and lo < hi2 and lo2 < hi:
                    which = p.name if var in self.written else q.name
                    raise ValueError(f"{self.name}: arguments '{p.name}' and '{q.name}' share "
                                     f"memory and the kernel writes '{which}'; pass separate "
                                     "arrays (a copy of the input)")

    def __repr__(self) -> str:
        return f"<HostFunction {self.__doc__}>"


def _byte_span(meta: Any) -> tuple[int, int]:
    """[first byte, last byte + 1) of an array's elements (empty for an empty array)."""
    start = int(meta.__array_interface__["data"][0])
    if math.prod(meta.shape) == 0:
        return start, start
    low = high = start
    for n, stride in zip(meta.shape, meta.strides):
        if stride < 0:
            low += (n - 1) * stride
        else:
            high += (n - 1) * stride
    return low, high + meta.dtype.itemsize


def flat_view(arr: np.ndarray) -> np.ndarray:
    """The 1-D contiguous view of the memory a kernel sees: the array itself for C-contiguous
    arrays, else the span from its first to its last element (strided buffers), in place."""
    if arr.flags.c_contiguous or arr.size == 0:
        return arr.reshape(-1)
    itemsize = arr.itemsize
    if any(s < 0 for s in arr.strides):
        raise ValueError(f"an array with negative strides {arr.strides} cannot be passed to a "
                         "kernel; pass np.ascontiguousarray(...)")
    span = 1 + sum((n - 1) * (s // itemsize) for n, s in zip(arr.shape, arr.strides))
    return as_strided(arr, shape=(span,), strides=(itemsize,))


def _written_by_launches(body: S.Stmt, kernels: dict[str, PrimFunc]) -> set[Var]:
    """Host data variables a launched kernel writes through (copied back after the call)."""
    from tvmscript.ir.functor import post_order_visit

    out: set[Var] = set()
    written = {name: written_data_vars(k) for name, k in kernels.items()}

    def visit(node: Any) -> None:
        launch = _launch_of(node)
        if launch is not None and launch[0] in kernels:
            kernel = kernels[launch[0]]
            for param, arg in zip(kernel.params, launch[1]):
                buf = kernel.buffer_map.get(param)
                if buf is not None and (buf.data in written[launch[0]]
                                        or param in written[launch[0]]) and isinstance(arg, Var):
                    out.add(arg)

    post_order_visit(body, visit)
    return out


def _alignment_by_launches(body: S.Stmt, kernels: dict[str, PrimFunc],
                           vector_bytes: Mapping[str, Mapping[int, int]]) -> dict[Var, int]:
    """Host data variables with the alignment (bytes) their kernels' vector accesses need."""
    from tvmscript.ir.functor import post_order_visit

    out: dict[Var, int] = {}

    def visit(node: Any) -> None:
        launch = _launch_of(node)
        if launch is None or launch[0] not in kernels:
            return
        for index, need in vector_bytes.get(launch[0], {}).items():
            arg = launch[1][index] if index < len(launch[1]) else None
            if isinstance(arg, Var):
                out[arg] = max(out.get(arg, 1), need)

    post_order_visit(body, visit)
    return out


def _launch_of(node: Any) -> tuple[str, tuple] | None:
    if isinstance(node, E.Call) and node.op == "tir.call_extern" and node.args \
            and isinstance(node.args[0], E.StringImm):
        return node.args[0].value, tuple(node.args[1:])
    return None


class _Runner:
    """Executes the statements of one host function call."""

    def __init__(self, fn: HostFunction, device: Device, env: dict[Var, Any]) -> None:
        self.fn, self.device, self.env = fn, device, env

    def run(self, stmt: S.Stmt) -> None:
        method = getattr(self, "run_" + type(stmt).__name__, None)
        if method is None:
            raise RuntimeError(f"host function {self.fn.name}: {type(stmt).__name__} cannot "
                               f"run on the host: {str(stmt)[:200]}")
        method(stmt)

    def run_SeqStmt(self, op: S.SeqStmt) -> None:
        for stmt in op.seq:
            self.run(stmt)

    def run_LetStmt(self, op: S.LetStmt) -> None:
        self.env[op.var] = self.eval(op.value)
        self.run(op.body)

    def run_AssertStmt(self, op: S.AssertStmt) -> None:
        if not self.eval(op.condition):
            message = op.message.value if isinstance(op.message, E.StringImm) else op.message
            raise RuntimeError(f"{self.fn.name}: assertion failed: {message}")
        self.run(op.body)

    def run_IfThenElse(self, op: S.IfThenElse) -> None:
        if self.eval(op.condition):
            self.run(op.then_case)
        elif op.else_case is not None:
            self.run(op.else_case)

    def run_DeclBuffer(self, op: S.DeclBuffer) -> None:
        self.run(op.body)

    def run_AttrStmt(self, op: S.AttrStmt) -> None:
        self.run(op.body)

    def run_Allocate(self, op: S.Allocate) -> None:
        if op.scope != "global":
            raise RuntimeError(f"host function {self.fn.name}: a {op.scope!r} allocation "
                               f"({op.buffer_var.name}) outside any kernel")
        size = math.prod(int(self.eval(e)) for e in op.extents) * op.dtype.lanes
        handle = self.device.alloc(size, str(op.dtype.element_of()))
        self.env[op.buffer_var] = handle
        try:
            self.run(op.body)
        finally:
            self.device.free(handle)

    def run_Evaluate(self, op: S.Evaluate) -> None:
        launch = _launch_of(op.value)
        if launch is None:
            if isinstance(op.value, (E.IntImm, E.FloatImm)):
                return
            raise RuntimeError(f"host function {self.fn.name}: {op.value} cannot run on the "
                               "host (only kernel launches can)")
        name, args = launch
        kernel = self.fn.kernels.get(name)
        if kernel is None:
            raise RuntimeError(f"host function {self.fn.name} launches {name!r}, which is not "
                               f"a kernel of this module ({', '.join(self.fn.kernels)})")
        values = [self.eval(a) for a in args]
        (grid_e, block_e), shared_e = self.fn.launches[name]
        scope = dict(zip(kernel.params, values))
        grid = tuple(int(self.eval(e, scope)) for e in grid_e)
        block = tuple(int(self.eval(e, scope)) for e in block_e)
        if min(grid + block) < 0:
            raise RuntimeError(f"{self.fn.name}: kernel {name} would launch with grid {grid} "
                               f"and block {block}")
        if min(grid + block) == 0:
            return  # nothing to compute (an empty input)
        shared = int(self.eval(shared_e, scope))
        self.device.launch(name, kernel, grid, block, shared, values)

    # ------------------------------------------------------------- expressions

    def eval(self, e: E.PrimExpr, env: dict | None = None) -> Any:
        env = self.env if env is None else env
        return _evaluate(e, env, self.fn.name)


def _evaluate(e: Any, env: Mapping, where: str) -> Any:
    """The value of a host expression (shape arithmetic on Python numbers), with the
    interpreter's semantics: each expression is compiled once by its translator."""
    if isinstance(e, (E.IntImm, E.FloatImm, E.StringImm)):
        return e.value
    params = tuple(sorted(vars_of(e), key=lambda v: (v.name, id(v))))
    for var in params:
        if var not in env:
            raise RuntimeError(f"host function {where}: {var.name} has no value on the host")
    try:
        return _compiled(e, params)(*(env[v] for v in params))[0]
    except ZeroDivisionError:
        raise RuntimeError(f"host function {where}: division by zero in {e}") from None


@lru_cache(maxsize=4096)
def _compiled(e: E.PrimExpr, params: tuple[Var, ...]) -> Callable[..., tuple]:
    return compile_lambda([e], params)


