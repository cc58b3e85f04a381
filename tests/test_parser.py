"""The parser builds the IR the contract (docs/script-to-ir.md) names for each construct."""


import pytest

import tvmscript
from tvmscript import I, R, T, from_source, structural_equal
from tvmscript.ir import expr as E
from tvmscript.ir import graph as G
from tvmscript.ir import stmt as S
from tvmscript.ir.function import IRModule, PrimFunc
from tests.conformance import load_cases

HEAD = "from tvmscript import T, R, I\n"


def parse(body: str, params: str = "A: T.Buffer((16, 16), \"float32\")"):
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return from_source(f"{HEAD}@T.prim_func\ndef f({params}):\n{lines}\n")


def root_body(func):
    return func.body.block.body


MATMUL = '''
@T.prim_func
def main(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
    for i, j, k in T.grid(128, 128, 128):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


@pytest.mark.parametrize("name, case", sorted(load_cases().items()))
def test_conformance_parses(name, case):
    result = from_source(case.SOURCE)
    assert isinstance(result, (PrimFunc, IRModule))


def test_matmul_structure_and_inferred_regions():
    f = from_source(MATMUL)
    a, b, c = f.buffers
    assert [p.dtype.is_handle for p in f.params] == [True] * 3
    assert a.name == "A" and str(a.dtype) == "float32" and [s.value for s in a.shape] == [128, 128]
    root = f.root_block
    assert root is not None and root.name_hint == "root" and not root.reads
    loop_i = root.body
    assert isinstance(loop_i, S.For) and loop_i.kind == S.ForKind.SERIAL
    loop_k = loop_i.body.body
    realize = loop_k.body
    assert isinstance(realize, S.BlockRealize)
    block = realize.block
    assert [iv.iter_type for iv in block.iter_vars] == [S.IterType.SPATIAL, S.IterType.SPATIAL,
                                                       S.IterType.REDUCE]
    assert list(realize.iter_values) == [loop_i.loop_var, loop_i.body.loop_var, loop_k.loop_var]
    vi, vj, vk = (iv.var for iv in block.iter_vars)
    # a block with T.init() leaves the buffers it writes out of its reads (TVM's rule)
    assert [r.buffer for r in block.reads] == [a, b]
    assert [list(x.min for x in r.region) for r in block.reads] == [[vi, vk], [vk, vj]]
    assert all(x.extent.value == 1 for r in block.reads for x in r.region)
    assert [r.buffer for r in block.writes] == [c]
    assert isinstance(block.init, S.BufferStore)
    assert isinstance(realize.predicate, E.IntImm) and realize.predicate.dtype.is_bool
    assert dict(f.attrs) == {"global_symbol": "main"}  # not private: named by its name
    # without T.init() the written buffer is read too, and first, in the order of access
    g = from_source(MATMUL.replace("            with T.init():\n                C[vi, vj] = T.float32(0)\n", ""))
    block = g.root_block.body.body.body.body.block
    assert block.init is None
    a, b, c = g.buffers
    vi, vj, vk = [iv.var for iv in block.iter_vars]
    assert [r.buffer for r in block.reads] == [c, a, b]
    assert [[x.min for x in r.region] for r in block.reads] == [[vi, vj], [vi, vk], [vk, vj]]
    assert all(x.extent.value == 1 for r in block.reads for x in r.region)
    assert [r.buffer for r in block.writes] == [c]


def test_decorated_function_matches_text():
    @T.prim_func
    def main(A: T.Buffer((128, 128), "float32"), B: T.Buffer((128, 128), "float32"), C: T.Buffer((128, 128), "float32")):
        for i, j, k in T.grid(128, 128, 128):
            with T.block("C"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                with T.init():
                    C[vi, vj] = T.float32(0)
                C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]

    assert isinstance(main, PrimFunc)
    assert structural_equal(main, from_source(MATMUL))


def test_prim_func_options_and_closure_values():
    n = 8

    @T.prim_func(private=True)
    def f(A: T.Buffer((n,), "float32")):
        for i in range(n):
            A[i] = T.float32(1)

    assert f.buffers[0].shape[0].value == 8

    @T.prim_func(s_tir=True)
    def g(A: T.Buffer((4,), "float32")):
        A[0] = T.float32(0)

    assert isinstance(g.body, S.BufferStore)


def test_loop_kinds_and_ranges():
    f = parse('''
for i in T.parallel(16):
    for j in T.vectorized(2, 16):
        A[i, j] = T.float32(0)
for i in T.unroll(4, 4 + 12):
    for j in T.thread_binding(16, thread="threadIdx.x"):
        A[i, j] = T.float32(0)
for i in T.serial(0, 16, annotations={"pragma": 1}):
    for j in range(16):
        A[i, j] = T.float32(0)
''')
    l1, l2, l3 = f.body.seq
    assert l1.kind == S.ForKind.PARALLEL and l1.body.kind == S.ForKind.VECTORIZED
    assert l1.body.min.value == 2 and l1.body.extent.value == 14
    assert l2.kind == S.ForKind.UNROLLED and l2.extent.value == 12
    assert l2.body.kind == S.ForKind.THREAD_BINDING and l2.body.thread_tag == "threadIdx.x"
    assert dict(l3.annotations) == {"pragma": 1}
    assert f.root_block is None


def test_range_extent_symbolic_sub():
    f = parse('''
n = T.int32()
for i in range(n, 16):
    A[i, 0] = T.float32(0)
''')
    loop = f.body
    assert isinstance(loop.extent, E.Sub)


def test_loop_var_dtype_follows_extent():
    f = parse("for i in range(T.int64(16)):\n    A[0, 0] = T.float32(0)")
    assert str(f.body.loop_var.dtype) == "int64"


def test_block_features():
    f = parse('''
for i in range(16):
    with T.block("b"):
        vi = T.axis.spatial(16, i)
        vk = T.axis.reduce((2, 10), i)
        T.where(i < 10)
        T.reads(A[vi, 0:16])
        T.writes(A[vi, vk])
        T.block_attr({"k": 1})
        X = T.alloc_buffer((16,), "float32", scope="shared")
        Sub = T.match_buffer(A[vi, 0:16], (16,), "float32", offset_factor=1)
        X[vi] = Sub[vi]
        A[vi, vk] = X[vi]
''')
    realize = root_body(f).body
    block = realize.block
    assert isinstance(realize.predicate, E.LT)
    vk = block.iter_vars[1]
    assert vk.iter_type == S.IterType.REDUCE and vk.dom.min.value == 2 and vk.dom.extent.value == 8
    assert block.reads[0].region[1].extent.value == 16
    assert dict(block.annotations) == {"k": 1}
    assert block.alloc_buffers[0].scope == "shared"
    match = block.match_buffers[0]
    assert match.buffer.offset_factor == 1 and isinstance(match.buffer.elem_offset, E.Var)
    assert match.source.buffer is f.buffers[0]


def test_sblock_alias_and_explicit_root():
    f = parse('''
with T.block("root"):
    for i in range(16):
        with T.sblock("b"):
            vi = T.axis.S(16, i)
            A[vi, 0] = T.float32(0)
''')
    assert f.body.block.name_hint == "root"
    assert isinstance(f.body.block.body, S.For)


def test_top_level_alloc_without_blocks_is_flat_allocation():
    f = parse('''
X = T.alloc_buffer((16,), "float32")
for i in range(16):
    X[i] = A[i, 0]
''')
    # no block anywhere: TVM 0.27's flat allocation, Allocate + DeclBuffer over the rest
    assert f.root_block is None
    alloc = f.body
    assert isinstance(alloc, S.Allocate) and alloc.buffer_var.dtype.is_handle
    assert str(alloc.dtype) == "float32" and [e.value for e in alloc.extents] == [16]
    assert alloc.scope == "global"
    decl = alloc.body
    assert isinstance(decl, S.DeclBuffer) and decl.buffer.name == "X"
    assert decl.buffer.data is alloc.buffer_var and [e.value for e in decl.buffer.shape] == [16]
    loop = decl.body
    assert isinstance(loop, S.For) and loop.body.buffer is decl.buffer


def test_top_level_alloc_with_blocks_goes_to_root():
    f = parse('''
X = T.alloc_buffer((16,), "float32")
for i in range(16):
    with T.block("b"):
        vi = T.axis.spatial(16, i)
        X[vi] = A[vi, 0]
''')
    # a function with blocks keeps the classic meaning: an implicit root block allocates X
    root = f.root_block
    assert root is not None and root.name_hint == "root"
    assert [buf.name for buf in root.alloc_buffers] == ["X"]
    assert isinstance(root.body, S.For)
    assert root.body.body.block.body.buffer is root.alloc_buffers[0]


def test_handle_match_buffer_and_symbolic():
    f = from_source(HEAD + '''
@T.prim_func
def f(a: T.handle, n: T.int32):
    m = T.int32()
    A = T.match_buffer(a, (m, 16), "float16", strides=(16, 1), elem_offset=0, align=64)
    T.func_attr({"global_symbol": "f"})
    for i in range(m):
        A[i, 0] = T.float16(0)
''')
    a, n = f.params
    assert str(n.dtype) == "int32"
    buf = f.buffer_map[a]
    assert isinstance(buf.shape[0], E.Var) and buf.shape[0].name == "m"
    assert f.body.extent is buf.shape[0]
    assert dict(f.attrs) == {"global_symbol": "f"}


def test_statements():
    f = parse('''
x = A[0, 0] + T.float32(1)
y: T.int32 = 5
if x > T.float32(0):
    A[0, 1] = x
else:
    A[0, 2] = x
while A[0, 0] < T.float32(3):
    A[0, 0] = A[0, 0] + T.float32(1)
assert y > 0, "positive"
T.evaluate(T.call_extern("int32", "f", y))
T.call_extern("int32", "g")
A[0, 3] += T.float32(2)
''')
    let_x = f.body
    assert isinstance(let_x, S.LetStmt) and str(let_x.var.dtype) == "float32"
    let_y = let_x.body
    assert isinstance(let_y, S.LetStmt) and str(let_y.var.dtype) == "int32"
    if_, while_, assert_ = let_y.body.seq
    assert isinstance(if_, S.IfThenElse) and if_.else_case is not None
    assert isinstance(while_, S.While)
    assert isinstance(assert_, S.AssertStmt) and assert_.message.value == "positive"
    ev1, ev2, store = assert_.body.seq
    assert ev1.value.op == "tir.call_extern" and ev1.value.args[0].value == "f"
    assert isinstance(ev2, S.Evaluate)
    assert isinstance(store.value, E.Add)


def test_expressions():
    f = parse('''
n = T.int32()
A[0, 0] = T.Select(n < 2 < 3, T.float32(1), T.float32(2))
A[0, 1] = T.Cast("float32", n // 2 + n % 3 - -5)
A[0, 2] = T.exp(A[0, 0]) + T.max(A[0, 1], T.float32(0)) + T.min_value("float32")
A[0, 3] = T.if_then_else(n == 1 and not n != 2, A[0, 0], T.float32(0))
A[0, 4] = T.Cast("float32", T.truncdiv(n, 2) + T.truncmod(n, 3) + (n & 3) + (n << 1) + ~n)
A[0, 5] = T.Cast("float32", -n) ** T.float32(2.0)
A[0, 6] = T.reinterpret("float32", T.int32(3))
A[0, 7] = T.Cast("float32", (n * 1 + 0) - (1 - 1))
A[0, 8] = T.Cast("float32", 0 - n)
''', 'A: T.Buffer((16, 16), "float32")')
    s = f.body.seq
    sel = s[0].value
    assert isinstance(sel, E.Select) and isinstance(sel.condition, E.And)
    cast_inner = s[1].value.value
    assert isinstance(cast_inner, E.Sub) and cast_inner.b.value == -5
    assert isinstance(cast_inner.a.a, E.FloorDiv) and isinstance(cast_inner.a.b, E.FloorMod)
    assert s[3].value.op == "tir.if_then_else"
    assert s[5].value.op == "tir.pow"
    n = s[7].value.value  # n * 1 + 0 - (1 - 1) folds to n, as in TVM
    assert isinstance(n, E.Var) and n.name == "n"
    neg = s[5].value.args[0].value  # -n is n * -1, as TVM's parser builds it
    assert isinstance(neg, E.Mul) and neg.a is n and neg.b.value == -1
    sub = s[8].value.value  # 0 - n stays a subtraction
    assert isinstance(sub, E.Sub) and sub.a.value == 0 and sub.b is n


def test_vector_slices_and_ramp():
    f = parse('''
for i in range(2):
    A[0, i * 8:i * 8 + 8] = A[1, i * 8:i * 8 + 8] + T.Broadcast(T.float32(1), 8)
    A[1, T.Ramp(0, 2, 4)] = T.Broadcast(T.float32(0), 4)
''')
    store = f.body.body.seq[0]
    assert isinstance(store.indices[1], E.Ramp) and store.indices[1].lanes == 8
    assert str(store.value.dtype) == "float32x8"


def test_low_level_statements():
    f = parse('''
x = T.allocate([16], "float32", "global")
X = T.decl_buffer((16,), "float32", data=x)
Y = T.decl_buffer((8,), "int32")
tx = T.launch_thread("threadIdx.x", 32)
with T.attr(0, "pragma", 1):
    X[0] = T.float32(0)
T.tvm_storage_sync("shared")
''')
    alloc = f.body
    assert isinstance(alloc, S.Allocate) and alloc.buffer_var.dtype.is_handle
    decl = alloc.body
    assert isinstance(decl, S.DeclBuffer) and decl.buffer.data is alloc.buffer_var
    alloc_y = decl.body
    assert isinstance(alloc_y, S.Allocate) and isinstance(alloc_y.body, S.DeclBuffer)
    launch = alloc_y.body.body
    assert isinstance(launch, S.AttrStmt) and launch.attr_key == "thread_extent"
    assert launch.node.thread_tag == "threadIdx.x"
    attr, sync = launch.body.seq
    assert isinstance(attr, S.AttrStmt) and sync.value.op == "tir.tvm_storage_sync"


def test_buffer_attributes():
    f = from_source(HEAD + '''
@T.prim_func
def f(a: T.handle):
    A = T.match_buffer(a, (16,), "float32", offset_factor=4)
    T.evaluate(T.call_extern("int32", "g", A.data, A.elem_offset, A.shape[0]))
''')
    buf = f.buffers[0]
    args = f.body.value.args
    assert args[1] is buf.data and args[2] is buf.elem_offset


def test_literals():
    f = parse('''
A[0, 0] = T.float32(1)
A[0, 1] = 2.5
A[0, 2] = T.float32("inf")
''')
    s = f.body.seq
    assert isinstance(s[1].value, E.FloatImm) and str(s[1].value.dtype) == "float32"
    big = from_source(HEAD + "@T.prim_func\ndef f(A: T.Buffer((1,), \"int64\")):\n    A[0] = 2 ** 40\n")
    assert str(big.body.value.dtype) == "int64"


def test_inferred_regions_relax_inner_loops():
    f = parse('''
for i in range(4):
    with T.block("b"):
        vi = T.axis.spatial(4, i)
        for k in range(4):
            A[vi * 4 + k, 0] = A[0, k]
''')
    block = root_body(f).body.block
    (w,) = block.writes
    vi = block.iter_vars[0].var
    assert isinstance(w.region[0].min, E.Mul) and w.region[0].min.a is vi
    assert w.region[0].extent.value == 4
    assert block.reads[0].region[1].min.value == 0 and block.reads[0].region[1].extent.value == 4


def test_graph_function():
    fn = from_source(HEAD + '''
@R.function
def main(x: R.Tensor(("n", 16), "float32"), y: R.Tensor(("n", 16), "float32")) -> R.Tensor(("n", 16), "float32"):
    with R.dataflow():
        a = R.add(x, y)
        b = R.nn.relu(a)
        t = (a, b)
        c = t[1]
        R.output(c)
    d: R.Tensor(("n", 16), "float32") = R.multiply(c, c)
    return d
''')
    assert isinstance(fn, G.Function)
    x, y = fn.params
    assert x.sinfo.shape[0] is y.sinfo.shape[0] and str(x.sinfo.shape[0].dtype) == "int64"
    df, outer = fn.body.blocks
    assert isinstance(df, G.DataflowBlock) and type(outer) is G.BindingBlock
    kinds = [type(b.var) for b in df.bindings]
    assert kinds == [G.DataflowVar, G.DataflowVar, G.DataflowVar, G.GraphVar]
    assert isinstance(df.bindings[2].value, G.Tuple)
    assert isinstance(df.bindings[3].value, G.TupleGetItem)
    assert fn.body.body is outer.bindings[0].var


def test_graph_const_and_sinfo():
    fn = from_source(HEAD + '''
@R.function
def main(x: R.Tensor((2, 3), "float32"), t: R.Tuple(R.Tensor((2,), "int32"), R.Object), s: R.Shape([1, 2])):
    w = R.const([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "float32")
    y = R.matmul(x, R.permute_dims(w))
    return y
''')
    # the nested call is bound to its own variable at parse, as TVM's parser does
    w, wt, y = fn.body.blocks[0].bindings
    assert isinstance(w.value, G.Constant)
    assert wt.value.op.name == "relax.permute_dims" and list(wt.value.args) == [w.var]
    assert [s.value for s in wt.var.sinfo.shape] == [3, 2]
    assert y.value.op.name == "relax.matmul" and list(y.value.args) == [fn.params[0], wt.var]
    assert [s.value for s in y.var.sinfo.shape] == [2, 2]
    assert fn.body.body is y.var
    assert isinstance(fn.params[1].sinfo, G.TupleStructInfo)


def test_module_decorated():
    @I.ir_module
    class Module:
        I.module_attrs({"version": 1})

        @R.function
        def main(x: R.Tensor((16,), "float32")) -> R.Tensor((16,), "float32"):
            cls = Module
            with R.dataflow():
                lv = R.call_tir(cls.double, (x,), out_sinfo=R.Tensor((16,), "float32"))
                R.output(lv)
            return lv

        @T.prim_func
        def double(A: T.Buffer((16,), "float32"), B: T.Buffer((16,), "float32")):
            for i in range(16):
                B[i] = A[i] * T.float32(2)

    assert list(Module.functions) == ["main", "double"]
    assert dict(Module.attrs) == {"version": 1}
    call = Module["main"].body.blocks[0].bindings[0].value
    assert call.op.name == "relax.call_tir" and call.args[0].name_hint == "double"
    assert isinstance(Module["double"], PrimFunc)


def test_module_out_ty_alias_and_list_sinfo():
    mod = from_source(HEAD + '''
@I.ir_module
class M:
    @T.prim_func
    def f(A: T.Buffer((4,), "float32"), B: T.Buffer((4,), "float32"), C: T.Buffer((4,), "float32")):
        B[0] = A[0]
        C[0] = A[0]

    @R.function
    def main(x: R.Tensor((4,), "float32")):
        cls = M
        y = R.call_tir(cls.f, x, out_ty=[R.Tensor((4,), "float32"), R.Tensor((4,), "float32")])
        z = cls.main(x)
        return y
''')
    y = mod["main"].body.blocks[0].bindings[0]
    assert isinstance(y.var.sinfo, G.TupleStructInfo)


def test_spans_point_at_user_lines():
    f = from_source(MATMUL)
    loop = f.root_block.body
    assert loop.span.lineno == 4


def test_debug_switch_chains_the_internal_exception():
    from tvmscript import diagnostics

    with diagnostics.debug():
        with pytest.raises(tvmscript.ScriptError) as info:
            parse("A[0, 0] = T.float32(1) + T.int32(1)")
    assert isinstance(info.value.__cause__, TypeError)


def test_large_programs_parse_whole():
    """Big programs parse completely (speed is benchmarks/parse_print.py's job, not a test's)."""
    big = '''
@T.prim_func
def main(A: T.Buffer((1024, 1024), "float32"), B: T.Buffer((1024, 1024), "float32"), C: T.Buffer((1024, 1024), "float32")):
    for i, j, k in T.grid(1024, 1024, 1024):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''
    func = from_source(big)
    assert structural_equal(from_source(func.script()), func)
    lines = [f"    A[{i % 64}] = A[{(i + 1) % 64}] + T.float32({i})" for i in range(1000)]
    lines += [f"    x{i} = A[{i % 64}] * T.float32(2)" for i in range(300)]
    lines += ["    A[0] = x0"]
    text = HEAD + "@T.prim_func\ndef f(A: T.Buffer((64,), \"float32\")):\n" + "\n".join(lines)
    func = from_source(text)
    stores = []
    tvmscript.ir.post_order_visit(func.body, lambda n: stores.append(n) if isinstance(n, S.BufferStore) else None)
    assert len(stores) == 1001
    assert structural_equal(from_source(func.script()), func)
