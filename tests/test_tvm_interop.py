"""Scripts move between tvmscript and Apache TVM 0.27 and mean the same program on both sides.

Every corpus program and conformance case goes both ways (``tests/interop/round_trip.py``):
our ``script(dialect="tvm")`` text parses in TVM to what TVM makes of the source, TVM's printed
text parses here to what we make of it, and our text printed again by TVM comes back unchanged.
Random programs (hypothesis) make the last trip too. TVM runs in a worker process
(``tests/interop/tvm_bridge.py``), so a crash in TVM fails one test instead of the session.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

import tvmscript
from tests import strategies
from tvmscript import ir
from tvmscript.ir import graph as G
from tvmscript.script.fold import fold_binary, folds
from tests.interop.programs import interop_programs
from tests.interop.round_trip import check_both_ways
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed

pytestmark = pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)

# Programs TVM 0.27 cannot parse as written (respelled by tests/interop/tvm_spelling.py), and
# why. Their own text still goes through TVM and back (``through_tvm``): our tvm dialect spells
# them in what TVM does parse.
TVM_CANNOT_READ: dict[str, str] = {
    "tir:power_operator": "TVM has no `**` on expressions (we print T.pow)",
    "tir:vector_ramp_broadcast": "TVM reads a slice on the right-hand side as a region, not a "
                                 "vector load (we print A[T.Ramp(b, 1, n)])",
    "tir:vector_dtype_let": "same: `v: T.let[T.float32x16] = A[i * 16:i * 16 + 16]` binds a region",
    "tir:allocate_decl_buffer": "TVM 0.27 has no T.allocate (we print the flat T.alloc_buffer)",
    "tir:let_expression": "TVM 0.27 has no T.let(x, v, body) (we print T.Let(body, where={x: v}))",
}

# Programs whose meaning TVM itself loses on a step, the steps, and why. Every other step of
# these programs is still asserted.
TVM_LOSES: dict[str, tuple[set[str], str]] = {
    "tir:comparison_chain_parens": (
        {"tvm_to_ours", "through_tvm"},
        "TVM prints (B[i] < 3) == (B[i] >= 1) as `B[i] < 3 == (B[i] >= 1)`, a Python chained "
        "comparison that TVM's own parser (and ours) reads as `B[i] < 3 and 3 == (B[i] >= 1)`"),
}

PROGRAMS = interop_programs()


@pytest.fixture(scope="module")
def bridge():
    b = TVMBridge()
    yield b
    b.close()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program_moves_both_ways(bridge, name):
    outcome = check_both_ways(bridge, name, PROGRAMS[name])
    assert outcome.tvm_reads_source == (name not in TVM_CANNOT_READ), (
        f"{name}: TVM reading the source: expected {name not in TVM_CANNOT_READ}\n"
        + "\n".join(outcome.problems))
    excused, why = TVM_LOSES.get(name, (set(), ""))
    steps = {"ours_to_tvm": outcome.ours_to_tvm, "tvm_to_ours": outcome.tvm_to_ours,
             "through_tvm": outcome.through_tvm}
    failed = {step for step, ok in steps.items() if ok is False}
    report = "\n".join(outcome.problems)
    assert failed <= excused, f"{name}: {sorted(failed - excused)} failed\n{report}"
    # an excuse that no longer applies must go: the program is then fully interoperable
    assert failed == excused, f"{name} now works both ways; remove it from TVM_LOSES ({why})"


def test_every_program_is_counted():
    """The corpus (61) plus the conformance cases where ../shared exists."""
    assert sum(name.startswith(("tir:", "module:")) for name in PROGRAMS) == 61


def test_classic_stays_the_default_and_both_dialects_parse_to_one_program():
    func = tvmscript.from_source(PROGRAMS["tir:matmul"])
    classic, tvm_text = func.script(), func.script(dialect="tvm")
    assert classic == func.script(dialect="classic")
    assert "T.block(" in classic and "T.sblock(" not in classic
    assert "T.sblock(" in tvm_text and "s_tir=True" in tvm_text
    tvmscript.assert_structural_equal(tvmscript.from_source(classic), func)
    tvmscript.assert_structural_equal(tvmscript.from_source(tvm_text), func)


def test_unknown_dialect_is_a_clear_error():
    func = tvmscript.from_source(PROGRAMS["tir:matmul"])
    with pytest.raises(ValueError, match="unknown script dialect 'relay'; expected one of "
                                         "'classic', 'tvm'"):
        func.script(dialect="relay")


# ---------------------------------------------------------------- any program, through TVM

_FLAT = (ir.LetStmt, ir.AssertStmt, ir.Allocate, ir.DeclBuffer)


def _extend(s: ir.Stmt, rest: list) -> ir.Stmt:
    """``s`` (a let, assert or allocation) covering ``rest`` too, as a flat statement does."""
    body = s.body
    if isinstance(body, _FLAT):
        return s.with_(body=_extend(body, rest))
    if isinstance(body, ir.SeqStmt) and isinstance(body.seq[-1], _FLAT):
        return s.with_(body=ir.seq(*body.seq[:-1], _extend(body.seq[-1], rest)))
    return s.with_(body=ir.seq(body, *rest))


class _AsTVMKeepsIt(ir.Mutator):
    """The program as TVM 0.27 represents it, which is what can come back from TVM:

    * TVM's let, assert and allocation statements are flat (they cover the rest of their
      sequence), so one of ours that ends earlier comes back covering the rest;
    * TVM prints a one-element buffer bare (``A`` for ``A[e]``) outside blocks: the index
      comes back as 0;
    * TVM prints a min/max of two constants as ``T.min(a, b)``, which its parser folds, and
      then the operators around it fold too.
    The program computes the same in each case; only the tree differs.
    """

    def visit_SeqStmt(self, node):
        out: list = []
        for s in reversed([self.visit(x) for x in node.seq]):
            out = [_extend(s, out)] if out and isinstance(s, _FLAT) else [s, *out]
        return ir.seq(*out)

    in_block = False

    def visit_Block(self, node):
        outer, self.in_block = self.in_block, True
        try:
            return self.generic_visit(node)
        finally:
            self.in_block = outer

    def _index(self, node):
        node = self.generic_visit(node)
        shape = node.buffer.shape
        if (not self.in_block and len(shape) == 1 and isinstance(shape[0], ir.IntImm)
                and shape[0].value == 1):
            return node.with_(indices=(ir.const(0, node.indices[0].dtype),))
        return node

    visit_BufferLoad = visit_BufferStore = _index

    def _extremum(self, node):
        node = self.generic_visit(node)
        return fold_binary(type(node), node.a, node.b)

    visit_Min = visit_Max = _extremum

    def _arith(self, node):
        new = self.generic_visit(node)
        if new is node or folds(node):  # TVM printed a constructor (T.Mul(x, 1)): kept
            return new
        return fold_binary(type(new), new.a, new.b)  # printed as an operator, folded on parsing

    visit_Add = visit_Sub = visit_Mul = visit_Div = visit_Mod = _arith
    visit_FloorDiv = visit_FloorMod = _arith


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(func=strategies.prim_funcs())
def test_any_program_we_print_comes_back_from_tvm(bridge, func):
    _through_tvm(bridge, func, _AsTVMKeepsIt())


def _through_tvm(bridge, func, as_tvm_keeps_it: ir.Mutator) -> None:
    """Our tvm text parses in TVM, TVM's text parses here to ``func`` (as TVM's IR can hold
    it), and that goes back into TVM unchanged wherever TVM reads its own text as the program it
    printed (it does not where it printed a one-element parameter buffer bare: ``A = B + 1``
    fails to parse there, ``A = A`` rebinds a name)."""
    text = func.script(dialect="tvm")
    answer = bridge.parse(text)
    assert answer["ok"], f"TVM rejects our text:\n{text}\n{answer['error']}"
    back = tvmscript.from_source(answer["script"])
    tvmscript.assert_structural_equal(back, as_tvm_keeps_it.visit(func))
    if bridge.equal(text, answer["script"]).get("equal"):
        same = bridge.equal(back.script(dialect="tvm"), answer["script"])
        assert same.get("equal"), same


class _TVMNormalForm(ir.Mutator):
    """TVM's parser normalizes an item of a tuple literal, ``(a, b)[1]``, to the item."""

    def visit_TupleGetItem(self, node):
        node = self.generic_visit(node)
        if isinstance(node.tuple_value, G.Tuple):
            return node.tuple_value.fields[node.index]
        return node


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(func=strategies.graph_functions())
def test_any_graph_function_we_print_comes_back_from_tvm(bridge, func):
    _through_tvm(bridge, func, _TVMNormalForm())
