"""Regressions from issue 9 (a new user and a fuzzer on the parser and printer): each test
failed before its fix."""

import math
import re
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tvmscript
from backends.interpreter import run as interpret
from tvmscript import ScriptError, T, diagnostics, from_source, structural_equal
from tvmscript.ir.depth import MAX_EXPR_DEPTH

HEAD = ("from tvmscript import T\n@T.prim_func\n"
        "def f(A: T.Buffer((16,), \"float32\"), B: T.Buffer((16,), \"float32\")):\n")


def kernel(body: str) -> str:
    """A kernel whose body starts on line 4."""
    return HEAD + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"


def loop(stmt: str) -> str:
    """``stmt`` inside ``for i in range(16):``, on line 5."""
    return kernel(f"for i in range(16):\n    {stmt}")


def error_of(text: str) -> ScriptError:
    with pytest.raises(ScriptError) as info:
        from_source(text)
    return info.value


def assert_error(text: str, line: int, col: int, message: str) -> None:
    err = error_of(text)
    assert (err.lineno, err.col_offset) == (line, col), str(err)
    assert err.message == message, str(err)


# ------------------------------------------------------------ 1. short tracebacks

_BAD_SCRIPT = '''\
from tvmscript import T


@T.prim_func
def f(A: T.Buffer((16,), "float32")):
    for i in range(16):
        A[i] = A[i] + T.int32(1)
'''


def _run_bad_script(tmp_path, debug: bool) -> str:
    path = tmp_path / "bad_kernel.py"
    path.write_text(_BAD_SCRIPT)
    env = dict(os.environ, TVMSCRIPT_DEBUG="1" if debug else "0")
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 1
    return done.stderr


def test_script_error_traceback_is_short(tmp_path):
    stderr = _run_bad_script(tmp_path, debug=False)
    assert "During handling of the above exception" not in stderr
    assert "direct cause" not in stderr
    assert "TypeError" not in stderr
    for internal in ("parser/core.py", "parser/tir.py", "parser/builtin.py", "tir_ns.py"):
        assert internal not in stderr, stderr
    assert stderr.count('  File "') <= 3, stderr
    assert "error: operands of `+` have different dtypes: float32 and int32" in stderr
    assert f"--> {tmp_path / 'bad_kernel.py'}:7:16" in stderr
    assert "7 |         A[i] = A[i] + T.int32(1)" in stderr


def test_debug_switch_shows_the_internal_exception(tmp_path):
    stderr = _run_bad_script(tmp_path, debug=True)
    assert "The above exception was the direct cause of the following exception" in stderr
    assert "TypeError" in stderr
    assert "parser/core.py" in stderr
    assert "error: operands of `+` have different dtypes" in stderr


def test_debug_context_manager_chains_the_internal_exception():
    with diagnostics.debug():
        err = error_of(loop("A[i] = A[i] + T.int32(1)"))
    assert isinstance(err.__cause__, TypeError)
    err = error_of(loop("A[i] = A[i] + T.int32(1)"))
    assert err.__cause__ is None and err.__suppress_context__


# ------------------------------------------------------------ 2. hints for Python builtins


@pytest.mark.parametrize("call, name", [
    ("max(A[i], T.float32(0))", "T.max"), ("min(A[i], T.float32(0))", "T.min"),
    ("abs(A[i])", "T.abs"), ("round(A[i])", "T.round"), ("pow(A[i], T.float32(2))", "T.pow"),
])
def test_python_builtin_on_ir_hints_t_function(call, name):
    builtin = call.split("(")[0]
    assert_error(loop(f"B[i] = {call}"), 5, 15,
                 f"Python's {builtin}() cannot compute on IR expressions; use {name} in a kernel")


def _line_of(marker: str) -> int:
    with open(__file__) as fh:
        return next(i + 1 for i, line in enumerate(fh) if line.rstrip().endswith(marker))


def test_python_math_function_on_ir_hints_t_function():
    with pytest.raises(ScriptError) as info:
        @T.prim_func
        def f(A: T.Buffer((16,), "float32")):
            for i in range(16):
                A[i] = math.exp(A[i])  # MATH-EXP
    err = info.value
    assert (err.lineno, err.col_offset) == (_line_of("# MATH-EXP"), 23)
    assert err.message == ("Python's math.exp() cannot compute on IR expressions; "
                           "use T.exp in a kernel")


def test_numpy_function_on_ir_hints_t_function():
    with pytest.raises(ScriptError) as info:
        @T.prim_func
        def f(A: T.Buffer((16,), "float32")):
            for i in range(16):
                A[i] = np.sqrt(A[i])  # NP-SQRT
    assert info.value.lineno == _line_of("# NP-SQRT")
    assert info.value.message == ("numpy.sqrt() cannot compute on IR expressions; "
                                  "use T.sqrt in a kernel")


def test_python_builtin_on_plain_numbers_still_works():
    f = from_source(loop("B[i] = A[i] + T.float32(max(1, 2) + abs(-3))"))
    assert "T.float32(5" in f.script()


def test_and_or_as_select_hints_select():
    assert_error(loop("B[i] = A[i] > 0 and A[i] or T.float32(0)"), 5, 15,
                 "`and`/`or`/`not` need bool operands, got a float32 expression; to choose "
                 "between values write T.Select(cond, a, b) or T.if_then_else(cond, a, b)")


# ------------------------------------------------------------ 3. T.var


def test_t_var_declares_a_symbolic_size():
    f = from_source('''from tvmscript import T
@T.prim_func
def f(a: T.handle):
    n = T.var("int32")
    A = T.match_buffer(a, (n,), "float32")
    for i in range(n):
        A[i] = T.float32(1)
''')
    (n,) = f.buffer_map[f.params[0]].shape
    assert (n.name, str(n.dtype)) == ("n", "int32")
    tvmscript.assert_structural_equal(f, from_source(f.script()))
    a = np.zeros(5, dtype="float32")
    interpret(f, a)
    np.testing.assert_array_equal(a, np.ones(5, dtype="float32"))


SIZE = T.var("int32")
LENGTH = T.int32()


def test_module_level_sizes_become_the_kernels_variables():
    @T.prim_func
    def f(a: T.handle, b: T.handle):
        A = T.match_buffer(a, (SIZE,), "float32")
        B = T.match_buffer(b, (LENGTH,), "float32")
        for i in range(SIZE):
            B[i] = A[i]

    (size,) = f.buffer_map[f.params[0]].shape
    (length,) = f.buffer_map[f.params[1]].shape
    assert (size.name, str(size.dtype), length.name) == ("SIZE", "int32", "LENGTH")
    tvmscript.assert_structural_equal(f, from_source(f.script()))
    a, b = np.arange(8, dtype="float32"), np.zeros(8, dtype="float32")
    interpret(f, a, b)
    np.testing.assert_array_equal(a, b)


def test_t_buffer_decl_is_decl_buffer():
    f = from_source(kernel('''
        X = T.buffer_decl((16,), "float32", data=A.data)
        for i in range(16):
            B[i] = X[i]
    '''))
    g = from_source(kernel('''
        X = T.decl_buffer((16,), "float32", data=A.data)
        for i in range(16):
            B[i] = X[i]
    '''))
    tvmscript.assert_structural_equal(f, g)


# ------------------------------------------------------------ 4. deep expressions


def test_long_sum_is_a_script_error_naming_the_line():
    text = loop("B[i] = A[i]" + " + 1.0" * 3000)
    err = error_of(text)
    assert err.lineno == 5
    assert "nested too deeply" in err.message
    assert "split it into several statements" in err.message


def test_deep_unary_minus_is_a_script_error_naming_the_line():
    text = loop("B[i] = " + "-" * 10000 + "A[i]")
    err = error_of(text)
    assert err.lineno == 5
    assert "nested too deeply" in err.message


def test_deep_right_leaning_power_is_a_script_error_at_the_expression():
    assert_error(loop("B[i] = A[i]" + " ** A[i]" * 600), 5, 15,
                 "this expression is nested too deeply (602 levels; the limit is "
                 f"{MAX_EXPR_DEPTH}); split it into several statements (e.g. with let bindings "
                 "x = ...)")


# the deepest sum a script may hold: A[i] is 2 levels deep, each term adds one
_DEEPEST_SUM = MAX_EXPR_DEPTH - 2


def _sum_kernel(terms: int) -> str:
    # constants from 1: A[i] + T.float32(0) would fold to A[i] at parse and lose a level
    return loop("B[i] = A[i]" + "".join(f" + T.float32({k})" for k in range(1, terms + 1)))


def test_long_sum_round_trips():
    f = from_source(_sum_kernel(_DEEPEST_SUM))
    text = f.script()
    g = from_source(text)
    tvmscript.assert_structural_equal(f, g)
    assert g.script() == text


def test_long_sums_differing_deep_inside_are_unequal_at_that_path():
    f = from_source(_sum_kernel(_DEEPEST_SUM))
    g = from_source(_sum_kernel(_DEEPEST_SUM).replace("A[i] + T.float32(1)",
                                                      "A[i] + T.float32(7)"))
    with pytest.raises(tvmscript.ir.structural.StructuralMismatch) as info:
        tvmscript.assert_structural_equal(f, g)
    assert info.value.path.endswith(".value" + ".a" * (_DEEPEST_SUM - 1) + ".b.value")
    assert "1.0 vs 7.0" in info.value.reason


def test_sum_parses_to_the_right_numbers():
    f = from_source(_sum_kernel(100))
    a, b = np.arange(16, dtype="float32"), np.zeros(16, dtype="float32")
    interpret(f, a, b)
    np.testing.assert_allclose(b, a + sum(range(1, 101)))


def test_deep_negation_round_trips():
    f = from_source(loop("B[i] = " + "-" * (MAX_EXPR_DEPTH - 2) + "A[i]"))
    g = from_source(f.script())
    tvmscript.assert_structural_equal(f, g)


# ------------------------------------------------------------ 5. unsupported operators


@pytest.mark.parametrize("expr, col, symbol", [
    ("A[i] @ A[i]", 15, "@"), ("i in (1, 2)", 24, "in"), ("i not in (1, 2)", 24, "not in"),
    ("i is 1", 24, "is"), ("i is not 1", 24, "is not"),
])
def test_unsupported_operator_named_in_python_spelling(expr, col, symbol):
    stmt = f"B[i] = {expr}" if symbol == "@" else f"B[i] = T.Select({expr}, A[i], A[i])"
    assert_error(loop(stmt), 5, col, f"the operator `{symbol}` is not supported in a kernel")


# ------------------------------------------------------------ 6. star arguments


def test_star_argument_of_an_expression():
    assert_error(loop("B[i] = T.max(*(i + 1))"), 5, 21,
                 "cannot unpack an int32 expression with `*`; expected a tuple or a list")


def test_star_argument_of_a_tuple_still_works():
    f = from_source(loop("B[i] = T.max(*(A[i], T.float32(0)))"))
    g = from_source(loop("B[i] = T.max(A[i], T.float32(0))"))
    tvmscript.assert_structural_equal(f, g)


# ------------------------------------------------------------ 7. non-IR values


@pytest.mark.parametrize("stmt, what", [
    ('T.func_attr({"x": T})', "the namespace T"),
    ('T.func_attr({"x": T.float32})', "T.float32"),
    ('T.func_attr({"x": [1, max]})', "builtin_function_or_method"),
])
def test_func_attr_refuses_values_that_do_not_print(stmt, what):
    assert_error(kernel(stmt + "\nB[0] = A[0]"), 4, 16,
                 f"T.func_attr value for key 'x' is {what}; expected a string, number, bool, "
                 "IR expression, or a list, tuple or dict of them")


def test_block_attr_and_loop_annotation_refuse_non_ir_values():
    block = ('for i in range(16):\n    with T.block("b"):\n        vi = T.axis.spatial(16, i)\n'
             '        T.block_attr({"k": T.int8})\n        B[vi] = A[vi]')
    err = error_of(kernel(block))
    assert (err.lineno, err.col_offset) == (7, 25)
    assert err.message.startswith("T.block_attr value for key 'k' is T.int8")
    err = error_of(kernel('for i in T.serial(16, annotations={"k": T}):\n    B[i] = A[i]'))
    assert (err.lineno, err.col_offset) == (4, 38)
    assert err.message.startswith("annotations value for key 'k' is the namespace T")


def test_good_attributes_still_round_trip():
    f = from_source(kernel('T.func_attr({"global_symbol": "f", "n": [1, 2.5, (True, None)]})\n'
                           "B[0] = A[0]"))
    tvmscript.assert_structural_equal(f, from_source(f.script()))


def test_attr_node_and_scope_refuse_non_ir_values():
    assert_error(kernel('with T.attr(T.float32, "k", 1):\n    B[0] = A[0]'), 4, 16,
                 "T.attr expects an IR node such as a variable or buffer, got T.float32")
    assert_error(kernel('X = T.alloc_buffer((4,), "float32", scope=T)\nB[0] = A[0]'), 4, 46,
                 'scope must be a string such as "global" or "shared", got the namespace T')


@pytest.mark.parametrize("stmt", ["B[i] = T.float32", "x = T.float32\n    B[i] = x",
                                  "T.evaluate(T.float32)"])
def test_dtype_used_as_a_value_is_refused(stmt):
    err = error_of(loop(stmt))
    assert err.lineno in (5, 6)
    assert "T.float32" in err.message


# ------------------------------------------------------------ 8. T.where on block iterators


def test_where_on_the_blocks_own_iterator_is_refused():
    text = kernel('''
        for i in range(16):
            with T.block("b"):
                vi = T.axis.spatial(16, i)
                T.where(vi < 8)
                B[vi] = A[vi]
    ''')
    assert_error(text, 7, 20, "T.where(...) uses the block's own iterator vi; a block predicate "
                              "is over the enclosing loop variables: write it with the loop "
                              "variables the iterators are bound to (vi = i)")


def test_where_on_loop_variables_round_trips():
    f = from_source(kernel('''
        for i in range(16):
            with T.block("b"):
                vi = T.axis.spatial(16, i)
                T.where(i < 8)
                B[vi] = A[vi]
    '''))
    g = from_source(f.script())
    tvmscript.assert_structural_equal(f, g)
    a, b = np.arange(16, dtype="float32"), np.zeros(16, dtype="float32")
    interpret(g, a, b)
    np.testing.assert_array_equal(b, np.where(np.arange(16) < 8, a, 0))


@pytest.mark.parametrize("value, message", [
    ("T.int8(300)", "300 does not fit int8 (range [-128, 127])"),
    ("A[i] + 300", "300 does not fit int8 (range [-128, 127])"),
    ("T.Cast(\"int8\", T.uint8(256))", "256 does not fit uint8 (range [0, 255])"),
])
def test_integer_literal_that_does_not_fit_its_dtype_is_refused(value, message):
    # found by fuzzing: T.int8(300) was accepted and compiled as 44, as LLVM truncates
    src = f'''
@T.prim_func
def f(A: T.Buffer((8,), "int8"), B: T.Buffer((8,), "int8")):
    for i in range(8):
        B[i] = {value}
'''
    with pytest.raises(ScriptError, match=re.escape(message)) as info:
        from_source(src)
    assert info.value.lineno == 5


def test_bool_constant_is_true_or_false_and_round_trips():
    # found by fuzzing: `B[i] < 3` of a bool B kept T.bool(3), printed T.bool(True), reparsed 1
    func = from_source('''
@T.prim_func
def cmp(A: T.Buffer((8,), "bool"), B: T.Buffer((8,), "bool")):
    for i in range(8):
        A[i] = (B[i] < 3) == (B[i] >= 1)
''')
    assert structural_equal(func, from_source(func.script()))
    assert "T.bool(True)" in func.script()


# ------------------------------------------------------------ 9. fuzzer round trips


def round_trip(text: str):
    """Parse ``text``; the printed form must reparse structurally equal and print the same."""
    func = from_source(text)
    again = from_source(func.script())
    tvmscript.assert_structural_equal(func, again)
    assert again.script() == func.script()
    return again


@pytest.mark.parametrize("value, expected", [
    ("A[0:16] ** T.Broadcast(T.float32(2), 16)", lambda a: a ** 2),
    ("T.pow(A[0:16], T.Broadcast(T.float32(2), 16))", lambda a: a ** 2),
    ("T.max(A[0:16], T.Broadcast(T.float32(7), 16))", lambda a: np.maximum(a, 7)),
    ("T.Select(A[0:16] < T.Broadcast(T.float32(4), 16), A[0:16], T.Broadcast(T.float32(0), 16))",
     lambda a: np.where(a < 4, a, 0)),
    ("T.if_then_else(True, A[0:16], T.Broadcast(T.float32(0), 16))", lambda a: a),
])
def test_math_call_on_a_vector_slice_round_trips(value, expected):
    # found by fuzzing: A[0:16] ** x printed as T.pow(A[0:16], x), which said "float() argument
    # must be a string or a real number, not 'BufferSlice'" when parsed
    func = round_trip(kernel(f"B[0:16] = {value}"))
    a, b = np.arange(16, dtype="float32"), np.zeros(16, dtype="float32")
    interpret(func, a, b)
    np.testing.assert_allclose(b, expected(a), rtol=1e-6)


@pytest.mark.parametrize("loop, col, message", [
    ("T.serial(0, -2147483649)", 25,
     "a loop end must not be less than its start: 0:-2147483649 has extent -2147483649"),
    ("range(-1)", 19, "a loop extent must not be negative, got -1"),
    ("range(5, 2)", 22, "a loop end must not be less than its start: 5:2 has extent -3"),
    ("T.grid(4, -2)", 23, "a loop extent must not be negative, got -2"),
])
def test_constant_negative_loop_extent_is_refused(loop, col, message):
    # found by fuzzing: T.serial(0, -2147483649) was accepted (and its min stayed int32)
    assert_error(kernel(f"for i in {loop}:\n    B[0] = A[0]"), 4, col, message)


def test_loop_with_an_int64_extent_has_an_int64_min_and_round_trips():
    # found by fuzzing: T.serial(0, big) kept an int32 min 0 beside the int64 extent; the
    # reparsed min was int64, so the round trip differed (TVM promotes the min to the loop's)
    func = round_trip(kernel("for i in T.serial(0, 2147483649):\n    B[0] = A[0]"))
    loop = func.body
    assert [str(x.dtype) for x in (loop.min, loop.extent, loop.loop_var)] == ["int64"] * 3
    tvmscript.verify(func)
    func = round_trip(kernel("for i in T.serial(2, T.int64(16)):\n    B[i] = A[i] * 2.0"))
    assert str(func.body.min.dtype) == "int64"
    a, b = np.arange(16, dtype="float32"), np.zeros(16, dtype="float32")
    interpret(func, a, b)
    np.testing.assert_array_equal(b, np.where(np.arange(16) >= 2, a * 2, 0))


@pytest.mark.parametrize("stmt, col", [("T.reads(A[0:4], X[0:2])", 24),
                                       ("T.writes(X[0:2])", 17)])
def test_block_region_naming_the_blocks_own_allocation_is_refused(stmt, col):
    # found by fuzzing: X allocated in the block and named in its T.reads printed the region
    # before the allocation, as X_1, and the reparse said "unknown name 'X_1'"
    text = kernel(f'''
        with T.block("root"):
            X = T.alloc_buffer((2,), "float32")
            {stmt}
            B[0] = A[0]
    ''')
    assert_error(text, 6, col, "buffer X is allocated by this block; a block's own buffers are "
                               "not visible outside it and cannot be in its T.reads or T.writes")


def test_int64_index_beside_an_int32_one_gives_a_region_of_one_dtype():
    # found by fuzzing: B[0] and B[T.int64(3)] in one block inferred the region B[0:4] with an
    # int32 min and an int64 extent; reparsed, the min was T.Cast("int64", 0)
    func = round_trip('''
@T.prim_func
def f(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32")):
    for k in range(4):
        with T.block("sum"):
            vk = T.axis.remap("R", [k])
            with T.init():
                B[0] = T.float32(0.0)
            B[T.int64(3)] = B[0] + A[vk]
''')
    region = func.body.block.body.body.block.writes[0].region[0]
    assert [str(region.min.dtype), str(region.extent.dtype)] == ["int64", "int64"]
    a, b = np.arange(1, 5, dtype="float32"), np.zeros(4, dtype="float32")
    interpret(func, a, b)
    np.testing.assert_array_equal(b, [0, 0, 0, 4])


_BUFFER_CALLS = {
    "T.Buffer": ("def f(a: T.handle, B: T.Buffer((16,), \"float32\", {kw})):\n"
                 "    B[0] = T.float32(0)\n", 2, "T.Buffer"),
    "T.match_buffer": ("def f(a: T.handle):\n    A = T.match_buffer(a, (16,), \"float32\", {kw})\n"
                       "    A[0] = T.float32(0)\n", 3, "T.match_buffer"),
    "T.alloc_buffer": ("def f(a: T.handle):\n    A = T.alloc_buffer((16,), \"float32\", {kw})\n"
                       "    A[0] = T.float32(0)\n", 3, "T.alloc_buffer"),
    "T.decl_buffer": ("def f(a: T.handle):\n    A = T.decl_buffer((16,), \"float32\", {kw})\n"
                      "    A[0] = T.float32(0)\n", 3, "T.decl_buffer"),
}


# In a signature's T.Buffer a quoted name names a size variable or the parameter of that name
# (as in TVM), so 'a' there is the handle parameter a, not a string.
_SIGNATURE_MESSAGES = {
    ("T.Buffer", "strides=('a',)"): "strides must be an integer, got a handle expression",
}


@pytest.mark.parametrize("call", sorted(_BUFFER_CALLS))
@pytest.mark.parametrize("kw, message", [
    ("align='a'", "align must be a positive integer, got str 'a'"),
    ("align=-8", "align must be a positive integer, got int -8"),
    ("align=True", "align must be a positive integer, got bool True"),
    ("offset_factor='a'", "offset_factor must be a non-negative integer, got str 'a'"),
    ("offset_factor=-1", "offset_factor must be a non-negative integer, got int -1"),
    ("scope=1", 'scope must be a string such as "global" or "shared", got int 1'),
    ("strides=('a',)", "strides must be an integer, got str 'a'"),
    ("elem_offset=1.5", "elem_offset must be an integer, got float 1.5"),
    ("buffer_type='odd'", 'buffer_type must be "" or "default", got str \'odd\''),
    ("axis_separators=[1]", "axis_separators are not supported, got list"),
    ("data=3", "data= must be a handle variable, got int 3"),
])
def test_buffer_keyword_of_the_wrong_type_is_refused(call, kw, message):
    # found by fuzzing: T.match_buffer(..., align='a') printed as align=a, the handle a
    text, line, _ = _BUFFER_CALLS[call]
    text = "from tvmscript import T\n@T.prim_func\n" + text.format(kw=kw)
    err = error_of(text)
    message = _SIGNATURE_MESSAGES.get((call, kw), message)
    assert err.lineno == line + 1, str(err)
    assert err.message == message, str(err)
    assert err.source_line[err.col_offset:].startswith(kw.split("=", 1)[1]), str(err)


def test_good_buffer_keywords_still_round_trip():
    round_trip('''
@T.prim_func
def f(a: T.handle, B: T.Buffer((16,), "float32", align=32, offset_factor=4)):
    A = T.match_buffer(a, (16,), "float32", align=128, scope="shared", buffer_type="default",
                       axis_separators=[])
    for i in range(16):
        B[i] = A[i]
''')


def test_integer_wider_than_int64_is_refused():
    # found by fuzzing: a shape of 99999999999999999999 became T.int64(99999999999999999999),
    # whose printed form did not reparse
    text = 'from tvmscript import T\n@T.prim_func\ndef f(A: T.Buffer((99999999999999999999,), ' \
           '"float32")):\n    A[0] = T.float32(0)\n'
    assert_error(text, 3, 18, "99999999999999999999 does not fit int64 "
                              "(range [-9223372036854775808, 9223372036854775807])")
