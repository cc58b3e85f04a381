"""``load_module(path)``: a shared library from ``export_library`` back as a RuntimeModule.

Nothing is recompiled: the kernels' metadata is read from the library's
``__tvmscript_metadata`` string and their addresses from its symbol table.
"""

from __future__ import annotations

import ctypes
import os
import shutil

from .module import Kernel, RuntimeModule
from ..target import Target, cross_compile_reason
from ..amx import run_refusal
from .spec import loads, needs_of, target_of

METADATA_SYMBOL = "__tvmscript_metadata"
PAYLOAD_SYMBOL = "__tvmscript_graph"


def load_module(path: str) -> RuntimeModule:
    path = os.path.abspath(str(path))
    try:
        lib = ctypes.CDLL(path)
    except OSError as error:
        raise OSError(f"cannot load {path}: {error} (a library exported for another machine, "
                      "with -mtriple, loads only there)") from None
    try:
        meta = ctypes.c_char.in_dll(lib, METADATA_SYMBOL)
    except ValueError:
        raise ValueError(f"{path} was not written by export_library (no {METADATA_SYMBOL})") from None
    text = ctypes.string_at(ctypes.addressof(meta)).decode()
    specs = loads(text)
    kernels = {}
    for spec in specs:
        address = ctypes.cast(getattr(lib, spec.symbol), ctypes.c_void_p).value
        kernels[spec.name] = Kernel(spec, address, lib)
    rt = RuntimeModule(kernels, owner=lib,
                       exporter=lambda dst, payload=None: shutil.copyfile(path, dst))
    rt.library_path = path  # exporting it again copies the file (its C entry included)
    rt.cross_reason = cross_compile_reason(Target.parse(target_of(text)))
    rt.needs = needs_of(text)
    if rt.cross_reason is None:
        rt.permission_reason = run_refusal(rt.needs)
    graph = _graph_payload(lib, path)
    if graph is not None:
        from tvmscript.serialize import from_bytes

        from .executor import Executable

        rt._graph = Executable(from_bytes(graph, path), rt.kernels)
        if rt.cross_reason is None and getattr(rt, "permission_reason", None) is None:
            from .c_runner import native_functions

            rt._graph.native = native_functions(lib, rt._graph)
    return rt


def _graph_payload(lib: ctypes.CDLL, path: str) -> memoryview | None:
    """The model's graph and weights linked into the library, when it has them: a view of the
    library's read-only data (no copy; the library stays loaded as long as the module)."""
    try:
        size = ctypes.c_uint64.in_dll(lib, PAYLOAD_SYMBOL + "_size").value
        start = ctypes.c_char.in_dll(lib, PAYLOAD_SYMBOL)
    except ValueError:
        return None
    return memoryview((ctypes.c_char * size).from_address(ctypes.addressof(start))).cast("B")
