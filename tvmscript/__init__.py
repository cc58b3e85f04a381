"""tvmscript: write tensor programs as decorated Python, transform them, compile them."""

from . import ir
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

__version__ = "0.1.0"

__all__ = [
    "I", "IRModule", "PrimFunc", "R", "ScriptError", "T", "WellFormedError",
    "assert_structural_equal", "check_well_formed", "from_source", "ir", "structural_equal",
    "structural_hash", "verify",
]
