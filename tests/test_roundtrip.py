"""Every conformance case and every corpus program: parse -> print -> parse is structurally
equal, printing is a fixed point, and the parsed program is well-formed."""

from __future__ import annotations

import pytest

import tvmscript
from tests.conformance import load_cases
from tests.corpus.module_programs import PROGRAMS as MODULE_PROGRAMS
from tests.corpus.tir_programs import PROGRAMS as TIR_PROGRAMS

CONFORMANCE = load_cases()
ALL_TEXTS = {
    **{f"conformance/{k}": v.SOURCE for k, v in CONFORMANCE.items()},
    **{f"tir/{k}": v for k, v in TIR_PROGRAMS.items()},
    **{f"module/{k}": v for k, v in MODULE_PROGRAMS.items()},
}


def test_corpus_is_large_enough():
    assert len(TIR_PROGRAMS) + len(MODULE_PROGRAMS) >= 40


def check_round_trip(obj) -> str:
    text = obj.script()
    again = tvmscript.from_source(text)
    tvmscript.assert_structural_equal(obj, again)
    assert tvmscript.structural_hash(obj) == tvmscript.structural_hash(again)
    assert again.script() == text, "printing is not a fixed point"
    return text


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_round_trip(name):
    obj = tvmscript.from_source(ALL_TEXTS[name])
    check_round_trip(obj)


@pytest.mark.parametrize("name", sorted(ALL_TEXTS))
def test_parsed_programs_are_well_formed(name):
    obj = tvmscript.from_source(ALL_TEXTS[name])
    tvmscript.verify(obj)


@pytest.mark.parametrize("name", sorted(CONFORMANCE))
def test_conformance_kind(name):
    case = CONFORMANCE[name]
    obj = tvmscript.from_source(case.SOURCE)
    expected = tvmscript.IRModule if getattr(case, "KIND", None) == "module" else tvmscript.PrimFunc
    assert isinstance(obj, expected)
