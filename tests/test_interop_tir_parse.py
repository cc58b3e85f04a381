"""TVM 0.27's loop-level spellings parse here to the IR of the classic source (issue 10).

Each TVM text below is what TVM 0.27 prints (or parses) for the classic program beside it; the
tests without TVM check our parse of it, the ones marked ``tvm`` feed it to TVM and parse TVM's
own printed text back here.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends.interpreter import run as interpret
from tests.corpus.tir_programs import PROGRAMS
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed
from tvmscript import ScriptError, assert_structural_equal, from_source
from tvmscript.ir import stmt as S

requires_tvm = pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)


def same(tvm_text: str, classic: str) -> None:
    assert_structural_equal(from_source(tvm_text), from_source(classic))


def error_at(text: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(ScriptError) as info:
        from_source(text)
    err = info.value
    assert fragment in err.message, err.message
    assert (err.lineno, err.col_offset) == (line, col), str(err)


# ------------------------------------------------------------------ block spellings

SOFTMAX_TVM = '''
@T.prim_func(s_tir=True)
def softmax(A: T.Buffer((16, 32), "float32"), B: T.Buffer((16, 32), "float32")):
    M = T.sblock_alloc_buffer((16,))
    for i, j in T.grid(16, 32):
        with T.sblock("max"):
            vi, vj = T.axis.remap("SR", [i, j])
            T.sblock_attr({"meta_schedule.auto_tensorize": "dot"})
            with T.init():
                M[vi] = T.float32(-3.4028234663852886e+38)
            M[vi] = T.max(M[vi], A[vi, vj])
    for i, j in T.grid(16, 32):
        with T.sblock("out"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] - M[vi]
'''

SOFTMAX_CLASSIC = SOFTMAX_TVM.replace("@T.prim_func(s_tir=True)", "@T.prim_func").replace(
    "T.sblock_alloc_buffer", "T.alloc_buffer").replace("T.sblock_attr", "T.block_attr").replace(
    "T.sblock(", "T.block(")


def test_sblock_alloc_buffer_and_sblock_attr_are_the_blocks():
    same(SOFTMAX_TVM, SOFTMAX_CLASSIC)
    block = from_source(SOFTMAX_TVM).body.block.body.seq[0].body.body.block
    assert dict(block.annotations) == {"meta_schedule.auto_tensorize": "dot"}


def test_sblock_alloc_buffer_in_a_classic_function_is_still_the_blocks():
    same(SOFTMAX_TVM.replace("@T.prim_func(s_tir=True)", "@T.prim_func"), SOFTMAX_CLASSIC)


# ------------------------------------------------------------------ flat allocations

FLAT_TVM = '''
@T.prim_func
def lowered(A: T.Buffer((64,), "float32"), B: T.Buffer((64,), "float32")):
    Tmp = T.alloc_buffer((64,))
    for i in range(64):
        Tmp[i] = A[i] + T.float32(1.0)
    for i in range(64):
        B[i] = Tmp[i] * Tmp[i]
'''


def test_alloc_buffer_without_blocks_is_the_flat_allocation():
    same(FLAT_TVM, PROGRAMS["allocate_decl_buffer"])
    same(FLAT_TVM, FLAT_TVM.replace("T.alloc_buffer((64,))", 'T.decl_buffer((64,), "float32")'))
    func = from_source(FLAT_TVM)
    assert isinstance(func.body, S.Allocate) and isinstance(func.body.body, S.DeclBuffer)
    tmp = func.body.body.buffer
    assert tmp.name == "Tmp" and func.body.buffer_var is tmp.data


@pytest.mark.parametrize("call, scope", [("T.alloc_local((64,))", "local"),
                                         ("T.alloc_shared((64,))", "shared"),
                                         ('T.alloc_buffer((64,), scope="local")', "local")])
def test_alloc_local_and_shared_are_flat_allocations_in_their_scope(call, scope):
    text = FLAT_TVM.replace("T.alloc_buffer((64,))", call)
    classic = PROGRAMS["allocate_decl_buffer"].replace('"float32", "global")',
                                                        f'"float32", "{scope}")').replace(
        "data=tmp)", f'data=tmp, scope="{scope}")')
    same(text, classic)
    assert from_source(text).body.scope == scope


def test_flat_alloc_buffer_scopes_over_the_rest_of_its_body_only():
    func = from_source('''
@T.prim_func
def f(A: T.Buffer((4,), "float32")):
    for i in range(4):
        X = T.alloc_buffer((1,))
        X[0] = A[i]
        A[i] = X[0] * T.float32(2)
    A[0] = T.float32(0)
''')
    loop, last = func.body.seq
    assert isinstance(loop.body, S.Allocate) and isinstance(last, S.BufferStore)


def test_alloc_buffer_with_blocks_keeps_the_classic_meaning():
    func = from_source(SOFTMAX_CLASSIC)
    assert [b.name for b in func.body.block.alloc_buffers] == ["M"]


def test_s_tir_function_alloc_buffer_is_flat():
    func = from_source('''
@T.prim_func(s_tir=True)
def f(A: T.Buffer((4,), "float32")):
    X = T.alloc_buffer((4,))
    for i in range(4):
        with T.sblock("b"):
            vi = T.axis.spatial(4, i)
            A[vi] = T.float32(1)
''')
    root = func.body.block
    assert root.name_hint == "root" and root.alloc_buffers == ()
    assert isinstance(root.body, S.Allocate) and root.body.body.buffer.name == "X"


def test_flat_alloc_buffer_refuses_data_and_odd_layouts():
    error_at(FLAT_TVM.replace("T.alloc_buffer((64,))", "T.alloc_buffer((64,), data=A.data)"),
             4, 37, "a flat T.alloc_buffer allocates its own storage")
    error_at(FLAT_TVM.replace("T.alloc_buffer((64,))", 'T.alloc_buffer((64,), layout="x")'),
             4, 39, 'layout must be "default"')


# ------------------------------------------------------------------ quoted sizes

SYMBOLIC_TVM = '''
@T.prim_func(s_tir=True)
def scale(A: T.Buffer(("n",), "float32"), B: T.Buffer((n,), "float32")):
    n = T.int32()
    for i in range(n):
        with T.sblock("B"):
            vi = T.axis.spatial(n, i)
            T.reads(A[vi])
            T.writes(B[vi])
            B[vi] = A[vi] * T.float32(2.0)
'''

SYMBOLIC_2D_TVM = '''
@T.prim_func(s_tir=True)
def transpose(A: T.Buffer(("m", "n"), "float32"), B: T.Buffer((n, m), "float32")):
    m, n = T.int32(), T.int32()
    for i, j in T.grid(n, m):
        with T.sblock("T"):
            vi, vj = T.axis.remap("SS", [i, j])
            T.reads(A[vj, vi])
            T.writes(B[vi, vj])
            B[vi, vj] = A[vj, vi]
'''

STRIDED_TVM = '''
@T.prim_func
def strided(A: T.Buffer((16, 16), "float32", strides=("s0", 1)), B: T.Buffer((16, 16), "float32", align=128)):
    for i, j in T.grid(16, 16):
        B[i, j] = A[i, j]
'''


@pytest.mark.parametrize("name, text", [("symbolic_shape", SYMBOLIC_TVM),
                                        ("symbolic_2d", SYMBOLIC_2D_TVM),
                                        ("strided_buffer", STRIDED_TVM)])
def test_quoted_sizes_are_the_size_variables(name, text):
    same(text, PROGRAMS[name])


def test_a_quoted_size_is_one_variable_for_the_whole_signature():
    func = from_source('''
@T.prim_func
def f(A: T.Buffer(("n * 2",), "float32"), B: T.Buffer(("m", "n"), "float32", strides=("n", 1)), m: T.int64):
    for i in range(n):
        B[0, i] = A[i]
''')
    a, b = (func.buffer_map[p] for p in func.params[:2])
    n = a.shape[0].a
    assert n.name == "n" and str(n.dtype) == "int32" and b.shape[1] is n and b.strides[0] is n
    assert b.shape[0] is func.params[2] and str(func.params[2].dtype) == "int64"
    assert func.body.loop_var.dtype == n.dtype and func.body.extent is n


def test_quoted_size_errors_name_the_users_line():
    error_at(SYMBOLIC_TVM.replace('("n",)', '("n +",)'), 3, 23,
             'a quoted size must be an expression such as "n"')
    error_at(SYMBOLIC_TVM.replace("n = T.int32()", "n = T.int64()"), 4, 4,
             "'n' is int32 in the signature (a quoted size in T.Buffer)")
    error_at(FLAT_TVM.replace("T.alloc_buffer((64,))", 'T.alloc_buffer(("k",))'), 4, 25,
             "a shape entry must be an integer, got str 'k'")


# ------------------------------------------------------------------ T.attr({...})

ATTR_TVM = '''
@T.prim_func
def pragma(A: T.Buffer((64,), "float32")):
    T.attr({"pragma_import_llvm": "x"})
    for i in range(64):
        A[i] = T.float32(0.0)
'''


def test_attr_dict_statement_scopes_over_the_rest():
    same(ATTR_TVM, PROGRAMS["attr_stmt"])


def test_attr_dict_with_several_keys_nests_in_order():
    classic = '''
@T.prim_func
def f(A: T.Buffer((4,), "float32")):
    A[0] = T.float32(1)
    with T.attr(0, "pragma_a", "x"):
        with T.attr(0, "pragma_b", T.bool(True)):
            A[1] = T.float32(1)
    with T.attr(0, "pragma_c", 3):
        A[2] = T.float32(1)
'''
    same('''
@T.prim_func
def f(A: T.Buffer((4,), "float32")):
    A[0] = T.float32(1)
    with T.attr({"pragma_a": "x", "pragma_b": T.bool(True)}):
        A[1] = T.float32(1)
    T.attr({"pragma_c": 3})
    A[2] = T.float32(1)
''', classic)


def test_attr_dict_errors():
    error_at(ATTR_TVM.replace('{"pragma_import_llvm": "x"}', "{}"), 4, 11,
             'T.attr({...}) needs at least one "key": value')
    error_at(ATTR_TVM.replace('{"pragma_import_llvm": "x"}', '{"k": A}'), 4, 11,
             "T.attr value for key 'k' must be a string or an expression, got buffer A")
    error_at(ATTR_TVM.replace('T.attr({"pragma_import_llvm": "x"})', 'T.attr(0, "k")'), 4, 11,
             "T.attr takes a node, a key and a value")


# ------------------------------------------------------------------ assert with a kind

ASSERT_TVM = PROGRAMS["assert_stmt"].replace('"n must be at most 16"',
                                             '("RuntimeError", ["n must be at most 16"])')


def test_assert_kind_and_one_part_is_the_classic_assert():
    same(ASSERT_TVM, PROGRAMS["assert_stmt"])
    same(ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])',
                            '["n must be at most 16"]'), PROGRAMS["assert_stmt"])
    node = from_source(ASSERT_TVM).body
    assert (node.error_kind, node.message.value, node.message_parts) == (
        "RuntimeError", "n must be at most 16", ())


def test_assert_keeps_a_kind_and_fragments():
    text = ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])',
                              '("ValueError", ["n must be ", "at most 16"])')
    node = from_source(text).body
    assert (node.error_kind, node.message.value, node.message_parts) == (
        "ValueError", "n must be at most 16", ("n must be ", "at most 16"))
    with pytest.raises(AssertionError):
        same(text, PROGRAMS["assert_stmt"])
    a = np.zeros(16, "int32")
    with pytest.raises(RuntimeError, match="n must be at most 16"):
        interpret(from_source(text), a, 17)
    interpret(from_source(text), a, 3)
    np.testing.assert_array_equal(a[:4], [0, 1, 2, 0])


def test_t_assert_takes_a_kind_and_fragments():
    node = from_source('''
@T.prim_func
def f(n: T.int32):
    with T.Assert(n > 0, ["n ", "positive"], error_kind="ValueError"):
        T.evaluate(0)
''').body
    assert (node.error_kind, node.message.value, node.message_parts) == (
        "ValueError", "n positive", ("n ", "positive"))


def test_assert_message_errors():
    error_at(ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])', '("K", [1])'), 4,
             20, "an assert message must be a string, a list of strings")
    error_at(ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])', '(1, ["m"])'), 4,
             20, 'an assert message tuple is ("Kind", ["message", ...])')


# ------------------------------------------------------------------ let bindings

LET_CLASSIC = '''
@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        x: T.float32 = A[i] * T.float32(2)
        j: T.int32 = i * 2
        A[j // 2] = x
'''

# TVM 0.27 reads ``x: T.float32 = v`` as a one-element local buffer; its let binding (Bind) is
# ``x: T.let[T.float32] = v``, or ``x: T.let = v`` typed by the value
LET_TVM = LET_CLASSIC.replace("x: T.float32", "x: T.let[T.float32]").replace("j: T.int32",
                                                                            "j: T.let")


def test_t_let_annotation_is_a_let_binding():
    same(LET_TVM, LET_CLASSIC)
    error_at(LET_TVM.replace("T.let[T.float32]", "T.let[T.float16]"), 5, 17,
             "'x' is annotated float16 but its value is float32")


# ------------------------------------------------------------------ tirx. attributes


NOALIAS = '''
@T.prim_func
def f(A: T.Buffer((4,), "float32")):
    T.func_attr({"tir.noalias": True})
    A[0] = T.float32(1)
'''


def test_tirx_function_attributes_are_the_tir_ones():
    classic = PROGRAMS["matmul_explicit_regions"]
    same(classic.replace('"tir.noalias"', '"tirx.noalias"'), classic)
    func = from_source(classic.replace('"tir.noalias"', '"tirx.noalias"'))
    assert func.attrs["tir.noalias"] is True and "tirx.noalias" not in func.attrs


# ------------------------------------------------------------------ one-element buffers


def test_one_element_buffer_named_bare_is_its_element():
    same('''
@T.prim_func
def f(A: T.Buffer((1,), "float32"), B: T.Buffer((1,), "float32"), C: T.Buffer((4,), "float32")):
    B = T.exp(A)
    C[0] = A
    for i in range(4):
        C[i] = T.max(C[i], B)
    T.evaluate(A)
''', '''
@T.prim_func
def f(A: T.Buffer((1,), "float32"), B: T.Buffer((1,), "float32"), C: T.Buffer((4,), "float32")):
    B[0] = T.exp(A[0])
    C[0] = A[0]
    for i in range(4):
        C[i] = T.max(C[i], B[0])
    T.evaluate(A[0])
''')


def test_assigning_to_a_larger_buffer_name_is_still_refused():
    error_at('''
@T.prim_func
def f(C: T.Buffer((4,), "float32")):
    C = T.float32(0)
''', 4, 4, "'C' is already defined; script variables are bound once")


WHILE_TVM = '''
@T.prim_func
def collatz(A: T.Buffer((1,), "int32"), Steps: T.Buffer((1,), "int32")):
    Steps = 0
    while A != 1:
        if A % 2 == 0:
            A = A // 2
        else:
            A = A * 3 + 1
        Steps = Steps + 1
'''


def test_while_loop_as_tvm_prints_it():
    same(WHILE_TVM, PROGRAMS["while_loop"])


# ------------------------------------------------------------------ through TVM 0.27

# the text our tvm dialect should print for each construct: TVM parses it, and TVM's own
# printed text of it parses here to the classic program
THROUGH_TVM = {
    "flat_alloc": (FLAT_TVM, PROGRAMS["allocate_decl_buffer"]),
    "alloc_local": (FLAT_TVM.replace("T.alloc_buffer((64,))", "T.alloc_local((64,))"),
                    PROGRAMS["allocate_decl_buffer"].replace('"global")', '"local")').replace(
                        "data=tmp)", 'data=tmp, scope="local")')),
    "sblock": (SOFTMAX_TVM, SOFTMAX_CLASSIC),
    "symbolic_shape": (SYMBOLIC_TVM, PROGRAMS["symbolic_shape"]),
    "symbolic_2d": (SYMBOLIC_2D_TVM, PROGRAMS["symbolic_2d"]),
    "strided": (STRIDED_TVM, PROGRAMS["strided_buffer"]),
    "attr": (ATTR_TVM, PROGRAMS["attr_stmt"]),
    "assert": (ASSERT_TVM, PROGRAMS["assert_stmt"]),
    "assert_parts": (ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])',
                                        '("ValueError", ["n must be ", "at most 16"])'),
                     ASSERT_TVM.replace('("RuntimeError", ["n must be at most 16"])',
                                        '("ValueError", ["n must be ", "at most 16"])')),
    "let": (LET_TVM, LET_CLASSIC),
    "tirx_noalias": (NOALIAS.replace('"tir.noalias"', '"tirx.noalias"'), NOALIAS),
}


@pytest.fixture(scope="module")
def bridge():
    b = TVMBridge()
    yield b
    b.close()


@requires_tvm
@pytest.mark.parametrize("name", sorted(THROUGH_TVM))
def test_tvm_reads_the_text_and_its_print_parses_here(bridge, name):
    text, classic = THROUGH_TVM[name]
    result = bridge.parse(text)
    assert result["ok"], result.get("error")
    same(result["script"], classic)
