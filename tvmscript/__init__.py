"""tvmscript: write tensor programs as decorated Python, transform them, compile them."""

from . import bfloat16, ir
from .diagnostics import ScriptError
from .ir import (
    IRModule,
    PrimFunc,
    WellFormedError,
    assert_structural_equal,
    check_well_formed,
    structural_equal,
    structural_hash,
    verify,
)
from .script.module_ns import I
from .script.parser.entry import from_source
from .script.relax_ns import R
from .script.tir_ns import T
from .schedule import BlockRV, LoopRV, Schedule, ScheduleArgumentError, ScheduleError, Trace
from .schedule.tensor_intrin import TensorIntrin

__version__ = "0.1.0"


def build(obj, target="llvm"):
    """Lower ``obj`` (PrimFunc or IRModule) and compile it; ``rt["main"](*arrays)`` runs it."""
    from backends.build import build as _build

    return _build(obj, target)


def load_module(path):
    """Load a library written by ``RuntimeModule.export_library`` (no recompilation)."""
    from backends.build import load_module as _load

    return _load(path)


__all__ = [
    "BlockRV", "I", "IRModule", "LoopRV", "PrimFunc", "R", "Schedule",
    "ScheduleArgumentError", "ScheduleError",
    "ScriptError", "T", "TensorIntrin", "Trace", "WellFormedError", "assert_structural_equal",
    "bfloat16", "build",
    "check_well_formed", "from_source", "ir", "load_module", "structural_equal",
    "structural_hash", "verify",
]
