"""Mutated programs either parse or raise ScriptError pointing inside the text; nothing else."""

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvmscript import ScriptError, from_source
from tests.conformance import case_sources


def _bases() -> list[str]:
    texts = case_sources()
    texts.append('''
@T.prim_func
def f(a: T.handle, n: T.int32):
    m = T.int32()
    A = T.match_buffer(a, (m, 16), "float32")
    X = T.alloc_buffer((16,), "float32", scope="shared")
    for i in T.parallel(2, 16):
        for j in T.vectorized(4):
            with T.block("b"):
                vi = T.axis.spatial((2, 16), i)
                vj = T.axis.reduce(4, j)
                T.where(i < 10)
                T.reads(A[vi, 0:4])
                T.writes(X[vi])
                x = A[vi, vj] * T.float32(2)
                if x > T.float32(0):
                    X[vi] = T.max(x, T.exp(A[vi, 0]))
                else:
                    X[vi] = T.Select(n < 3, x, T.float32(1))
    assert n > 0, "positive"
    T.evaluate(T.call_extern("int32", "g", n, A.data))
''')
    texts.append('''
@R.function
def main(x: R.Tensor(("n", 16), "float32"), y: R.Tensor((16, 8), "float32")) -> R.Tensor(("n", 8), "float32"):
    with R.dataflow():
        a = R.matmul(x, y)
        b = R.nn.relu(a)
        t = (a, b)
        c = t[1]
        R.output(c)
    d = R.add(c, R.const(1.0, "float32"))
    return d
''')
    return texts


BASES = _bases()
TOKEN = re.compile(r"\w+|[^\w\s]")
NAMES = ["A", "B", "vi", "i", "T", "R", "x", "main", "cls", "range", "block", "float32", "nope",
         "spatial", "remap", "init", "add", "Tensor", "output", "grid", "None", "True"]
NUMBERS = ["0", "1", "-1", "2", "16", "1.5", "999999", "0.0", "3"]


def _tokens(text: str) -> list[re.Match]:
    return list(TOKEN.finditer(text))


def _apply(text: str, op: tuple) -> str:
    kind, a, b, word = op
    if kind in ("del_line", "dup_line", "swap_lines"):
        lines = text.split("\n")
        i, j = a % len(lines), b % len(lines)
        if kind == "del_line":
            del lines[i]
        elif kind == "dup_line":
            lines.insert(i, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    toks = _tokens(text)
    if not toks:
        return text
    t1, t2 = toks[a % len(toks)], toks[b % len(toks)]
    if kind == "del_tok":
        return text[:t1.start()] + text[t1.end():]
    if kind == "dup_tok":
        return text[:t1.end()] + " " + t1.group() + text[t1.end():]
    if kind == "swap_toks":
        if t1.start() > t2.start():
            t1, t2 = t2, t1
        if t1.end() > t2.start():
            return text
        return (text[:t1.start()] + t2.group() + text[t1.end():t2.start()] + t1.group()
                + text[t2.end():])
    # replace a name or a number
    pool = [t for t in toks if (t.group()[0].isdigit() if kind == "num" else t.group()[0].isalpha())]
    if not pool:
        return text
    t = pool[a % len(pool)]
    return text[:t.start()] + word + text[t.end():]


OPS = st.tuples(
    st.sampled_from(["del_line", "dup_line", "swap_lines", "del_tok", "dup_tok", "swap_toks",
                     "name", "num"]),
    st.integers(0, 10_000), st.integers(0, 10_000),
    st.sampled_from(NAMES + NUMBERS),
)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(base=st.sampled_from(range(len(BASES))), ops=st.lists(OPS, min_size=1, max_size=3))
def test_mutated_programs_fail_cleanly(base, ops):
    text = BASES[base]
    for op in ops:
        if op[0] == "name":
            op = (op[0], op[1], op[2], op[3] if not op[3][0].isdigit() and op[3][0] != "-" else "x")
        text = _apply(text, op)
    try:
        from_source(text)
    except ScriptError as err:
        n_lines = max(1, len(text.splitlines()))
        assert 1 <= err.lineno <= n_lines, (err.lineno, n_lines, str(err))
        assert err.col_offset >= 0
        assert err.message
        str(err)
