"""tvmscript: write tensor programs as decorated Python, transform them, compile them."""

from .ir import (
    IRModule, PrimFunc, assert_structural_equal, structural_equal, structural_hash,
)

__version__ = "0.1.0"
