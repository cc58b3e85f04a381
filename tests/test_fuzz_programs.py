"""Fuzz: mutated corpus programs either fail with a ScriptError inside the text, or parse into
IR that prints, reparses structurally equal, and verifies or fails with WellFormedError.

Each example takes a program of tests/corpus/ (script text) and applies one to three mutations
of the kinds a user's typo or a fuzzer makes: change a constant, swap an operator, delete or
duplicate a line, change a dtype string, rename a variable, deepen an expression, insert a bad
statement, or a token edit of tests/test_parser_fuzz.py. No other exception, no hang and no
runaway memory (each example runs under a time limit and a cap on memory).

CI replays the same examples each run; ``TVMSCRIPT_FUZZ=deep pytest tests/test_fuzz_programs.py``
draws 20 times as many fresh ones (see ``tests.strategies.fuzz_settings``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable

from hypothesis import example, given
from hypothesis import strategies as st

import tvmscript
from tests.corpus.module_programs import PROGRAMS as MODULE_PROGRAMS
from tests.corpus.tir_programs import PROGRAMS as TIR_PROGRAMS
from tests.strategies import fuzz_settings, memory_limit, time_limit
from tests.test_parser_fuzz import OPS, _apply
from tvmscript import ScriptError, WellFormedError

BASES = sorted({**TIR_PROGRAMS, **MODULE_PROGRAMS}.items())
CONSTANTS = ["0", "1", "-1", "3", "2.5", "0.0", "2147483648", "-2147483649",
             "99999999999999999999", "1e40", "True", "None", "'a'"]
OPERATORS = ["+", "-", "*", "/", "//", "%", "**", "<", "<=", ">", "==", "!=", "and", "or", "&",
             "<<"]
DTYPES = ["float32", "int32", "float64", "int8", "uint8", "bool", "float16", "bfloat16", "int64",
          "float33", "int0", "handle", "float32x4", "void", "", "Float32", "int32x0"]
WRAPPERS = ["({0} + {0})", "T.max({0}, {0})", "-({0})", "({0}) * 2", 'T.Cast("int8", {0})',
            "({0})[0]", "{0}({0})", "T.exp({0})", "(({0}) if True else ({0}))",
            "T.Select({0} < {0}, {0}, {0})", "((({0})))", "T.float32({0})", "[{0}]",
            " + ".join(["({0})"] * 300), "-(" * 300 + "{0}" + ")" * 300,
            "T.max(" * 120 + "{0}" + ", {0})" * 120]
BAD_STATEMENTS = ["x = undefined_name", "return 1", "T.evaluate(1 / 0)", "import os", "del A",
                  "A[0] = T.float32(1.5)", "pass", "yield 1", "lambda: 0", "len('hi')",
                  'A = T.alloc_buffer((2,), "float32")', "while True: pass", "T.func_attr(5)",
                  "T.reads(Z[0])", "assert False, 'no'", "x: T.int32 = 1", "global q",
                  "raise ValueError('x')", 'with T.block("dup"): pass',
                  "for q in range(2 ** 40): pass", "for q in T.grid(): pass", "C = 1",
                  "T.float32(1)[0]", "[][0]", "T.init()", "R.output(x)", "x = R.add(1, 2)",
                  "T.where(1)", "vi = T.axis.spatial(4, 5)"]
NUMBER = re.compile(r"(?<![\w.])\d+(\.\d+)?(e[+-]?\d+)?(?![\w.])")
OPERATOR = re.compile(r"(?<=\s)(//|<=|>=|==|!=|\*\*|[-+*/%<>]|and|or)(?=\s)")
DTYPE = re.compile(r'(?<=")(u?int|float|bfloat|bool|handle)\d*(x\d+)?(?=")')
NAME = re.compile(r"\b[A-Za-z_]\w*\b")


def _replace_match(draw, text: str, pattern: re.Pattern, choices: list[str]) -> str:
    matches = list(pattern.finditer(text))
    if not matches:
        return text
    m = draw(st.sampled_from(matches), label="site")
    return text[:m.start()] + draw(st.sampled_from(choices), label="new") + text[m.end():]


def mutate_constant(draw, text: str) -> str:
    return _replace_match(draw, text, NUMBER, CONSTANTS)


def mutate_operator(draw, text: str) -> str:
    return _replace_match(draw, text, OPERATOR, OPERATORS)


def mutate_dtype(draw, text: str) -> str:
    return _replace_match(draw, text, DTYPE, DTYPES)


def mutate_lines(draw, text: str) -> str:
    kind = draw(st.sampled_from(["del_line", "dup_line", "swap_lines"]), label="line op")
    return _apply(text, (kind, draw(st.integers(0, 200)), draw(st.integers(0, 200)), ""))


def mutate_tokens(draw, text: str) -> str:
    """The token edits of test_parser_fuzz (delete, duplicate, swap, replace a word)."""
    return _apply(text, draw(OPS, label="token op"))


def rename_variable(draw, text: str) -> str:
    """Rename every whole-word use of a name (or only one), to a fresh or an existing name."""
    names = sorted(set(NAME.findall(text)))
    old = draw(st.sampled_from(names), label="old name")
    new = draw(st.sampled_from(["zz", "vi", "A", "T", "range", "i_0", old + "_"]), label="new")
    if draw(st.booleans(), label="everywhere"):
        return re.sub(rf"\b{old}\b", new, text)
    return _replace_match(draw, text, re.compile(rf"\b{old}\b"), [new])


def deepen_expression(draw, text: str) -> str:
    """Wrap one single-line expression of the program in a larger one."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    # an expression already wrapped once is not wrapped again: two 300-term wrappers made a
    # 1.4 MB program (slow to reject under load), three would make hundreds of megabytes
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.expr) and n.lineno == n.end_lineno
             and not isinstance(getattr(n, "ctx", None), ast.Store)
             and n.end_col_offset - n.col_offset <= 2000]
    if not nodes:
        return text
    node = draw(st.sampled_from(nodes), label="expression")
    lines = text.split("\n")
    line = lines[node.lineno - 1]
    inner = line[node.col_offset:node.end_col_offset]
    wrapped = draw(st.sampled_from(WRAPPERS), label="wrapper").format(inner)
    lines[node.lineno - 1] = line[:node.col_offset] + wrapped + line[node.end_col_offset:]
    return "\n".join(lines)


def insert_bad_statement(draw, text: str) -> str:
    """Insert a statement the dialect rejects (or accepts oddly) before an indented line."""
    lines = text.split("\n")
    sites = [n for n, line in enumerate(lines) if line.startswith(" ") and line.strip()]
    if not sites:
        return text
    n = draw(st.sampled_from(sites), label="line")
    indent = lines[n][:len(lines[n]) - len(lines[n].lstrip())]
    lines.insert(n, indent + draw(st.sampled_from(BAD_STATEMENTS), label="statement"))
    return "\n".join(lines)


MUTATIONS: list[Callable] = [mutate_constant, mutate_operator, mutate_dtype, mutate_lines,
                             mutate_tokens, rename_variable, deepen_expression,
                             insert_bad_statement]


@st.composite
def mutated_programs(draw) -> tuple[str, str]:
    """(name of the corpus program, its text after one to three mutations)."""
    name, text = draw(st.sampled_from(BASES), label="program")
    for _ in range(draw(st.integers(1, 3), label="mutations")):
        text = draw(st.sampled_from(MUTATIONS), label="mutation")(draw, text)
    return name, text


def check_error_points_inside(err: ScriptError, text: str) -> None:
    n_lines = max(1, len(text.splitlines()))
    assert 1 <= err.lineno <= n_lines, (err.lineno, n_lines, str(err))
    assert err.col_offset >= 0 and err.message, str(err)
    assert err.source_line == text.splitlines()[err.lineno - 1], str(err)
    str(err)


def check_round_trip_and_verify(obj: object) -> None:
    printed = obj.script()
    again = tvmscript.from_source(printed)
    tvmscript.assert_structural_equal(obj, again)
    assert again.script() == printed
    try:
        tvmscript.verify(obj)
    except WellFormedError as err:
        assert str(err)


def _mutant(name: str, old: str, new: str) -> tuple[str, str]:
    """(name, the corpus program ``name`` with ``old`` replaced by ``new``), checked to apply."""
    text = dict(BASES)[name]
    assert old in text, (name, old)
    return name, text.replace(old, new)


# mutants the fuzzer found failing once, replayed every run as explicit examples
BOOL_COMPARED_WITH_3 = (  # T.bool(3) prints as T.bool(True) and reparses as 1
    _mutant("comparison_chain_parens", '"int32"', '"bool"'))
FLOAT_RESHAPE = (  # the size 2.5 printed as T.float32(2.5), which does not reparse
    _mutant("graph_reshape_shape", "[2, 12]", "[2.5, 12]"))
FLOAT_RAMP_STRIDE = (  # a float32 stride of T.Ramp parsed; verify crashed with a TypeError
    _mutant("vector_ramp_broadcast", "T.Ramp(i * 32, 1, 8)", "T.Ramp(i * 32, 0.0, 8)"))
VECTOR_POW = (  # prints as T.pow(A[i * 16:i * 16 + 16], ...), which does not reparse
    _mutant("vector_ramp_broadcast", "A[i * 16:i * 16 + 16] + T", "A[i * 16:i * 16 + 16] ** T"))
INT64_EXTENT = (  # min 0 stays int32 beside an int64 extent; reparsed, the min is int64
    _mutant("loop_min", "T.serial(0, 1)", "T.serial(0, -2147483649)"))
BLOCK_BUFFER_READ = (  # printed T.reads(A_1[0:4]) before the block's A_1 = T.alloc_buffer
    _mutant("intrinsic_desc", 'T.block("root"):\n',
            'T.block("root"):\n        A = T.alloc_buffer((2,), "float32")\n'))
INT64_INDEX = (  # the write region B[2147483648] printed and reparsed differs (IntImm vs Cast)
    _mutant("shared_memory_sync", "B[0] = B[0] + S[vk]", "B[2147483648] = B[0] + S[vk]"))
STRING_ALIGN = (  # align='a' was accepted and printed as align=a (the handle parameter a)
    _mutant("strided_buffer", "align=128", "align='a'"))
HUGE_CONV_KERNEL = (  # a kernel of height 2**31 gave an output of negative height
    _mutant("module_attrs_conv", "(4, 3, 3, 3)", "(4, 3, 2147483648, 3)"))


@fuzz_settings(1500)
@given(mutated_programs())
@example(BOOL_COMPARED_WITH_3)
@example(FLOAT_RESHAPE)
@example(FLOAT_RAMP_STRIDE)
@example(VECTOR_POW)
@example(INT64_EXTENT)
@example(BLOCK_BUFFER_READ)
@example(INT64_INDEX)
@example(STRING_ALIGN)
@example(HUGE_CONV_KERNEL)
def test_mutated_program_fails_cleanly_or_round_trips(case):
    name, text = case
    with time_limit(20, f"mutated {name}"), memory_limit(3 << 30, f"mutated {name}"):
        try:
            obj = tvmscript.from_source(text)
        except ScriptError as err:
            check_error_points_inside(err, text)
            return
        check_round_trip_and_verify(obj)


def test_every_corpus_program_round_trips_unmutated():
    """The bases themselves pass the success branch (so mutations start from sound programs)."""
    for name, text in BASES:
        with time_limit(20, name):
            check_round_trip_and_verify(tvmscript.from_source(text))
