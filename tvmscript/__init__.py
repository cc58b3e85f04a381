"""tvmscript: write tensor programs as decorated Python, transform them, compile them."""

from . import bfloat16, frontend, ir, te
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
from .serialize import load, save

__version__ = "0.1.0"


def build(obj, target="llvm", database=None):
    """Lower ``obj`` (PrimFunc or IRModule) and compile it; ``rt["main"](*arrays)`` runs it.

    With ``database`` (a tuning database or its path), each loop-level function is first
    replaced by the best schedule recorded for it and this target, when there is one.

    A module with graph-level functions (a model) goes through ``optimize_model`` first:
    graph passes, legalization, fusion, a default schedule for every kernel the database has
    no record for, and the memory plan (``tuner/model_pipeline.py``)."""
    from backends.build import build as _build

    if isinstance(obj, IRModule) and _has_graph(obj):
        from backends.target import Target
        from tuner.model_pipeline import optimize_model

        return _build(optimize_model(obj, Target.parse(target), database), target)
    if database is not None:
        obj = _apply_database(obj, target, database)
    return _build(obj, target)


def optimize_model(mod, target="llvm", database=None):
    """The module ``build`` compiles for a model: print it to read what the passes did."""
    from backends.target import Target
    from tuner.model_pipeline import optimize_model as _optimize

    return _optimize(mod, Target.parse(target), database)


def _has_graph(mod):
    from .ir import graph as G

    return any(isinstance(f, G.Function) for f in mod.functions.values())


def _apply_database(obj, target, database):
    from tuner.database import Database, apply_best

    db = database if isinstance(database, Database) else Database(str(database))
    if isinstance(obj, PrimFunc):
        best = apply_best(obj, target, db)
        return obj if best is None else best
    for name, func in obj.functions.items():
        if isinstance(func, PrimFunc):
            best = apply_best(func, target, db)
            if best is not None:
                obj = obj.with_function(name, best)
    return obj


def tune(*args, **kwargs):
    """Search the schedule space of a PrimFunc or IRModule on this machine (``tuner.tune.tune``):
    ``tune(func, target="llvm", trials=64, database=None, seed=0, ...) -> TuneResult``."""
    from tuner.tune import tune as _tune

    return _tune(*args, **kwargs)


def tune_model(mod, target="llvm", database=None, **options):
    """Tune every kernel of model ``mod`` within one budget (``tuner.model_tune.tune_model``):
    ``tune_model(mod, target, database="model.db", time_budget_s=1200) -> ModelTuneReport``;
    then ``build(mod, target, database="model.db")`` uses the best of each kernel."""
    from tuner.model_tune import tune_model as _tune_model

    return _tune_model(mod, target, database, **options)


def load_module(path):
    """Load a library written by ``RuntimeModule.export_library`` (no recompilation)."""
    from backends.build import load_module as _load

    return _load(path)


__all__ = [
    "BlockRV", "I", "IRModule", "LoopRV", "PrimFunc", "R", "Schedule",
    "ScheduleArgumentError", "ScheduleError",
    "ScriptError", "T", "TensorIntrin", "Trace", "WellFormedError", "assert_structural_equal",
    "bfloat16", "build", "frontend", "optimize_model", "te",
    "check_well_formed", "from_source", "ir", "load", "load_module", "save", "structural_equal",
    "structural_hash", "tune", "tune_model", "verify",
]
