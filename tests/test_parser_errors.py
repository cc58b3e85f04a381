"""Malformed programs give a ScriptError at the exact line and column, with a helpful message."""

import pytest

import tvmscript
from tvmscript import T, ScriptError, from_source

H = ("from tvmscript import T, R, I\n@T.prim_func\n"
     "def f(A: T.Buffer((16, 16), \"float32\"), B: T.Buffer((16,), \"int32\")):\n")
RH = ("from tvmscript import T, R, I\n@R.function\ndef main(x: R.Tensor((2, 3), \"float32\"), "
      "y: R.Tensor((4, 5), \"float32\"), z: R.Tensor((2, 3), \"int32\")):\n")
MH = ("from tvmscript import T, R, I\n@I.ir_module\nclass M:\n    @T.prim_func\n"
      "    def f(A: T.Buffer((4,), \"float32\")):\n        A[0] = T.float32(0)\n\n"
      "    @R.function\n    def main(x: R.Tensor((4,), \"float32\")):\n        cls = M\n")


def _indent(body: str, pad: str) -> str:
    return "\n".join(pad + line for line in body.strip("\n").splitlines()) + "\n"


def t(body: str) -> str:
    return H + _indent(body, "    ")


def r(body: str) -> str:
    return RH + _indent(body, "    ")


def m(body: str) -> str:
    return MH + _indent(body, "        ")


BLOCK = "for i, j in T.grid(16, 16):\n    with T.block(\"b\"):\n"

# name: (program, line, column, message fragment)
CASES = {
    "unknown_name": (t("A[0, 0] = C[0, 0]"), 4, 14, "unknown name 'C'"),
    "unknown_name_in_index": (t("A[0, k] = T.float32(0)"), 4, 9, "unknown name 'k'"),
    "too_many_indices": (t("A[0, 0, 0] = T.float32(0)"), 4, 4,
                         "buffer A has 2 dimension(s) but 3 index(es)"),
    "too_few_indices_load": (t("A[0, 0] = A[0]"), 4, 14, "2 dimension(s) but 1 index(es)"),
    "remap_count": (t(BLOCK + "        vi, vj = T.axis.remap(\"S\", [i, j])"), 6, 34,
                    "kinds \"S\" name 1 iterator(s) but 2 loop variable(s)"),
    "remap_letters": (t(BLOCK + "        vi, vj = T.axis.remap(\"SX\", [i, j])"), 6, 34,
                      "got 'SX'"),
    "remap_names": (t(BLOCK + "        vi, vj, vk = T.axis.remap(\"SS\", [i, j])"), 6, 12,
                    "defines 2 iterator(s), but 3 name(s)"),
    "remap_not_loop_var": (t(BLOCK + "        vi = T.axis.remap(\"S\", [i + 1])"), 6, 35,
                           "expects loop variables of enclosing loops"),
    "try": (t("try:\n    A[0, 0] = T.float32(0)\nexcept Exception:\n    pass"), 4, 4,
            "`try` is not supported"),
    "class_inside": (t("class X:\n    pass"), 4, 4, "a class definition is not supported"),
    "lambda": (t("g = lambda v: v"), 4, 8, "`lambda` is not supported"),
    "import_inside": (t("import numpy"), 4, 4, "`import` is not supported"),
    "unknown_dtype": (t("X = T.alloc_buffer((16,), \"float33\")"), 4, 30,
                      "unknown dtype 'float33'"),
    "unknown_dtype_param": ("from tvmscript import T\n@T.prim_func\n"
                            "def f(A: T.Buffer((16,), \"flaot32\")):\n    A[0] = 0\n", 3, 25,
                            "unknown dtype 'flaot32'"),
    "module_no_function": (m("y = R.call_tir(cls.nope, (x,), out_sinfo=R.Tensor((4,), \"float32\"))"
                             "\nreturn y"), 11, 23, "module M has no function 'nope'; it has: f, main"),
    "float_extent": (t("for i in range(2.5):\n    A[0, 0] = T.float32(0)"), 4, 19,
                     "a loop extent must be an integer, got float 2.5"),
    "float_grid_extent": (t("for i, j in T.grid(16, 1.5):\n    A[0, 0] = T.float32(0)"), 4, 27,
                          "a loop extent must be an integer"),
    "intrin_arity": (t("A[0, 0] = T.exp(A[0, 0], A[0, 1])"), 4, 14,
                     "T.exp takes 1 argument(s) but 2 were given"),
    "builtin_arity": (t("A[0, 0] = T.Select(A[0, 0] > T.float32(0), A[0, 0])"), 4, 14,
                      "expected T.Select(condition, true_value, false_value)"),
    "cast_arity": (t("A[0, 0] = T.Cast(\"float32\")"), 4, 14, "expected T.Cast(dtype, value)"),
    "syntax_error": (t("for i in range(16)\n    A[0, 0] = T.float32(0)"), 4, 22,
                     "invalid Python syntax: expected ':'"),
    "syntax_error_paren": (t("x = 1\nA[0, 0] = (T.float32(0)"), 5, 14, "was never closed"),
    "unknown_T_attr": (t("for i in T.serail(16):\n    A[0, 0] = T.float32(0)"), 4, 13,
                       "T has no attribute 'serail'; did you mean 'T.serial'?"),
    "unknown_R_attr": (r("a = R.addd(x, x)\nreturn a"), 4, 8, "R has no attribute 'addd'"),
    "R_wrong_arg_count": (r("a = R.add(x, x, x)\nreturn a"), 4, 8,
                          "R.add takes 2 argument(s), got 3"),
    "R_unknown_op_attr": (r("a = R.nn.softmax(x, axes=1)\nreturn a"), 4, 8,
                          "R.nn.softmax has no attribute 'axes'; its attributes are: axis"),
    "R_shape_mismatch": (r("a = R.add(x, y)\nreturn a"), 4, 8,
                         "shapes (2, 3) and (4, 5) do not broadcast"),
    "R_dtype_mismatch": (r("a = R.add(x, z)\nreturn a"), 4, 8,
                         "different dtypes float32 and int32"),
    "R_no_return": (r("a = R.add(x, x)"), 3, 0, "must end with `return value`"),
    "R_output_outside": (r("a = R.add(x, x)\nR.output(a)\nreturn a"), 5, 4,
                         "R.output is only allowed inside `with R.dataflow():`"),
    "R_param_annotation": ("from tvmscript import R\n@R.function\ndef main(x: int):\n"
                           "    return x\n", 3, 9, "expected R.Tensor(...)"),
    "R_tuple_index": (r("t = (x, x)\na = t[5]\nreturn a"), 5, 8, "tuple index 5 is out of range"),
    "dtype_mismatch_binop": (t("A[0, 0] = A[0, 1] + B[0]"), 4, 14,
                             "operands of `+` have different dtypes: float32 and int32"),
    "bitwise_float": (t("A[0, 0] = A[0, 0] & A[0, 1]"), 4, 14,
                      "operator `&` needs integer operands"),
    "block_without_name": (t("for i in range(16):\n    with T.block():\n        pass"), 5, 13,
                           "a block needs a name"),
    "remap_outside_block": (t("for i in range(16):\n    vi = T.axis.remap(\"S\", [i])"), 5, 13,
                            "T.axis.remap is only allowed inside a `with T.block(...)`"),
    "spatial_outside_block": (t("for i in range(16):\n    vi = T.axis.spatial(16, i)"), 5, 13,
                              "T.axis.spatial is only allowed inside"),
    "init_outside_block": (t("with T.init():\n    A[0, 0] = T.float32(0)"), 4, 9,
                           "T.init() is only allowed inside a `with T.block(...)`"),
    "reads_outside_block": (t("T.reads(A[0, 0])"), 4, 4, "T.reads is only allowed inside"),
    "store_to_non_buffer": (t("x = 5\nx[0] = 1"), 5, 4,
                            "cannot assign to an element of an int32 expression; only buffers"),
    "store_float_into_int": (t("B[0] = T.float32(1)"), 4, 11,
                             "cannot store a float32 expression into B, which holds int32"),
    "store_pyfloat_into_int": (t("B[0] = 1.5"), 4, 11, "cannot store the float 1.5 into B"),
    "store_int_into_float": (t("A[0, 0] = B[0]"), 4, 14, "expected a value of dtype float32"),
    "break": (t("for i in range(16):\n    break"), 5, 8, "`break` is not supported"),
    "continue": (t("for i in range(16):\n    continue"), 5, 8, "`continue` is not supported"),
    "return_in_prim_func": (t("return 1"), 4, 4, "a prim_func cannot return a value"),
    "nested_def": (t("def g():\n    pass"), 4, 4, "a nested function definition is not supported"),
    "float_index": (t("A[0, 0.5] = T.float32(0)"), 4, 4,
                    "a buffer index must be an integer expression, got float 0.5"),
    "if_non_bool": (t("if A[0, 0]:\n    pass"), 4, 7, "a condition must be a bool expression"),
    "let_annotation_mismatch": (t("x: T.int32 = T.float32(1)"), 4, 7,
                                "'x' is annotated int32 but its value is float32"),
    "not_callable": (t("A[0, 0] = A(0)"), 4, 14, "buffer A is not callable"),
    "for_over_list": (t("for i in [1, 2]:\n    pass"), 4, 13, "cannot loop over list; expected range"),
    "grid_target_count": (t("for i, j in T.grid(16, 16, 16):\n    pass"), 4, 8,
                          "T.grid has 3 extent(s) but 2 loop variable(s)"),
    "param_no_annotation": ("from tvmscript import T\n@T.prim_func\ndef f(A):\n    pass\n", 3, 6,
                            "parameter 'A' needs an annotation"),
    "two_inits": (t("for i in range(16):\n    with T.block(\"b\"):\n        vi = T.axis.spatial(16, i)\n"
                    "        with T.init():\n            B[vi] = 0\n        with T.init():\n"
                    "            B[vi] = 0\n        B[vi] = 1"), 9, 12, "at most one `with T.init():`"),
    "with_non_block": (t("with A:\n    pass"), 4, 9, "`with` expects T.block, T.init or T.attr"),
    "buffer_bad_attr": (t("A[0, 0] = A.foo"), 4, 14, "buffer A has no attribute 'foo'"),
    "call_extern_no_dtype": (t("T.evaluate(T.call_extern())"), 4, 15, "needs the result dtype"),
    "unpack_count": (t("a, b = (1, 2, 3)"), 4, 4, "cannot unpack tuple into 2 names"),
    "two_defs": ("from tvmscript import T\n@T.prim_func\ndef f():\n    pass\n@T.prim_func\n"
                 "def g():\n    pass\n", 6, 0, "expected exactly one decorated function or class"),
    "ifexp": (t("A[0, 0] = T.float32(1) if True else T.float32(2)"), 4, 14,
              "a conditional expression"),
    "while_else": (t("while True:\n    pass\nelse:\n    pass"), 7, 8, "`while ... else`"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_error_location_and_message(name):
    text, line, col, fragment = CASES[name]
    with pytest.raises(ScriptError) as info:
        from_source(text)
    err = info.value
    assert (err.lineno, err.col_offset) == (line, col), str(err)
    assert fragment in err.message
    assert err.source_line == text.splitlines()[line - 1]


def test_case_count():
    assert len(CASES) >= 35


def test_rendering_has_caret_under_construct():
    text, *_ = CASES["unknown_name"]
    with pytest.raises(ScriptError) as info:
        from_source(text)
    rendered = str(info.value)
    lines = rendered.splitlines()
    assert lines[0] == "error: unknown name 'C'"
    assert lines[1].endswith("<string>:4:15")
    assert lines[3] == "4 |     A[0, 0] = C[0, 0]"
    assert lines[4].index("^") == lines[3].index("C[0, 0]".replace("[0, 0]", ""))


def test_internal_cause_hidden_unless_debugging():
    text, *_ = CASES["dtype_mismatch_binop"]
    with pytest.raises(ScriptError) as info:
        from_source(text)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with tvmscript.diagnostics.debug(), pytest.raises(ScriptError) as info:
        from_source(text)
    assert isinstance(info.value.__cause__, TypeError)


def _line_of(marker: str) -> int:
    with open(__file__) as fh:
        return next(i + 1 for i, line in enumerate(fh) if line.rstrip().endswith(marker))


def test_decorated_function_reports_file_line():
    with pytest.raises(ScriptError) as info:
        @T.prim_func
        def bad(A: T.Buffer((16,), "float32")):
            for i in range(16):
                A[i] = A[i] + undefined_name  # noqa: F821  # MARK-1
    err = info.value
    assert err.lineno == _line_of("# MARK-1")
    assert err.filename == __file__
    assert err.col_offset == err.source_line.index("undefined_name")


def test_decorated_block_error_reports_file_column():
    with pytest.raises(ScriptError) as info:
        @T.prim_func
        def bad(A: T.Buffer((16,), "float32")):
            with T.init():  # MARK-2
                A[0] = T.float32(0)
    assert info.value.lineno == _line_of("# MARK-2")
    assert info.value.col_offset == info.value.source_line.index("T.init")


def test_module_method_error_reports_file_line():
    with pytest.raises(ScriptError) as info:
        @tvmscript.I.ir_module
        class Mod:
            @T.prim_func
            def f(A: T.Buffer((4,), "float32")):
                A[0, 0] = T.float32(0)  # MARK-3
    assert info.value.lineno == _line_of("# MARK-3")
    assert info.value.col_offset == info.value.source_line.index("A[0, 0]")
    assert "1 dimension(s) but 2 index(es)" in info.value.message


def test_no_other_exception_escapes_for_non_script_text():
    for text in ["x = 1\n", "", "def f(:\n", "@T.prim_func\ndef f(A: T.Buffer):\n    pass\n"]:
        with pytest.raises(ScriptError) as info:
            from_source(text)
        assert 1 <= info.value.lineno <= max(1, len(text.splitlines()))
