"""The programs the interop tests move between the stacks: the corpus and the conformance cases."""

from __future__ import annotations

from tests.conformance import load_cases
from tests.corpus import module_programs, tir_programs


def interop_programs() -> dict[str, str]:
    """name -> source, in the classic spelling (conformance cases only where ../shared exists)."""
    programs = {f"conformance:{k}": case.SOURCE for k, case in load_cases().items()}
    programs.update({f"tir:{k}": v for k, v in tir_programs.PROGRAMS.items()})
    programs.update({f"module:{k}": v for k, v in module_programs.PROGRAMS.items()})
    return programs
