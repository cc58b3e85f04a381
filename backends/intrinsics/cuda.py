"""CUDA tensor-core intrinsics, each a description and an implementation written in the script.

WMMA (``nvcuda::wmma``, one warp works on 16 x 16 fragments), under TVM's names:

| name | computes (i, j, k < 16) | instruction |
| --- | --- | --- |
| ``wmma_load_16x16x16_f16_a_shared`` | ``C[i, j] = A[i, j]``, A shared, C ``wmma.matrix_a`` | ``wmma::load_matrix_sync`` |
| ``wmma_load_16x16x16_f16_b_shared`` | the same into ``wmma.matrix_b`` | ``wmma::load_matrix_sync`` |
| ``wmma_fill_16x16x16_f32`` | ``C[i, j] = 0``, C ``wmma.accumulator`` | ``wmma::fill_fragment`` |
| ``wmma_sync_16x16x16_f16f16f32`` | ``C[i, j] += f32(A[i, k]) * f32(B[k, j])`` | ``wmma::mma_sync`` |
| ``wmma_store_16x16x16_f32_global`` | ``C[i, j] = A[i, j]``, A accumulator, C global | ``wmma::store_matrix_sync`` |
| ``wmma_store_16x16x16_f32_shared`` | the same into shared memory | ``wmma::store_matrix_sync`` |

A fragment buffer holds several 16 x 16 fragments; the implementations name one by its index
in the buffer seen as a grid of tiles (TVM's ``get_wmma_fragment_index``): the tile at element
offset ``o`` of a buffer with row stride ``d`` is ``o // d // 16 * (d // 16) + o % d // 16``.

PTX ``mma.sync`` and ``ldmatrix`` (TVM's ``mma_*`` names): each 16 x 16 operand tile lives in a
``warp`` buffer of shape (32, 8), ``[lane, register]``, laid out as the instructions want it
(``warp_position``; the PTX ISA layouts are in ``backends/cuda/emulator/tensor_core.py``). A
schedule puts a cache in that layout with ``transform_layout`` (tile by tile) before tensorizing:

| name | computes | instruction |
| --- | --- | --- |
| ``mma_ldmatrix_f16_a`` | a 16 x 16 A tile (shared) into the warp layout | ``ldmatrix.sync.aligned.m8n8.x4.b16`` |
| ``mma_ldmatrix_f16_b`` | a 16 x 16 B tile (k x n, shared) into the warp layout | ``ldmatrix...x4.trans.b16`` |
| ``mma_f16f16f32`` | ``C += A @ B`` on 16 x 16 x 16, fp32 C | two ``mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32`` |
| ``mma_fill_16x16_f32`` | ``C = 0`` | each lane zeroes its 8 registers |
| ``mma_store_16x16_f32_global`` | a C tile into global memory | each lane stores its 8 registers |

The implementations run on the warp's 32 lanes (``T.thread_binding(32, thread="threadIdx.x")``),
each lane owning row ``lane`` of the warp buffer; lowering turns that row into its registers.

Unlike the x86 intrinsics these are not gated on this machine's CPU: they produce CUDA code,
which is compiled and run elsewhere (or emulated).
"""

from __future__ import annotations

import tvmscript
from tvmscript.schedule.tensor_intrin import TensorIntrin

# the tile index of a fragment view: TVM's get_wmma_fragment_index(buffer, stride, m, n)
_FRAG = "{b}.elem_offset // {d} // {m} * ({d} // {n}) + {b}.elem_offset % {d} // {n}"


def _frag(buf: str, stride: str, m: int = 16, n: int = 16) -> str:
    return _FRAG.format(b=buf, d=stride, m=m, n=n)


_COPY_HEAD = '''
@T.prim_func
def wmma_{name}_{kind}(a: T.handle, c: T.handle):
{vars}    A = T.match_buffer(a, (16, 16), "{dtype}", offset_factor=16, scope="{src}"{a_strides})
    C = T.match_buffer(c, (16, 16), "{dtype}", offset_factor=16, scope="{dst}"{c_strides})
    with T.block("root"):
        T.reads(A[0:16, 0:16])
        T.writes(C[0:16, 0:16])
'''

_COPY_DESC = '''
        for i, j in T.grid(16, 16):
            with T.block("{name}"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = A[vi, vj]
'''

_LOAD_IMPL = '''
        T.evaluate(T.tvm_load_matrix_sync(C.data, 16, 16, 16, {frag}, A.access_ptr("r"), s1, "row_major"))
'''

_STORE_IMPL = '''
        T.evaluate(T.tvm_store_matrix_sync(A.data, 16, 16, 16, {frag}, C.access_ptr("w"), s1, "row_major"))
'''

_STRIDES = "    s1 = T.int32()\n    s0 = T.int32()\n    d1 = T.int32()\n    d0 = T.int32()\n"

_FILL_HEAD = '''
@T.prim_func
def wmma_fill_{kind}(c: T.handle):
{vars}    C = T.match_buffer(c, (16, 16), "{dtype}", offset_factor=16, scope="wmma.accumulator"{c_strides})
    with T.block("root"):
        T.reads()
        T.writes(C[0:16, 0:16])
'''

_FILL_DESC = '''
        for i, j in T.grid(16, 16):
            with T.block("init"):
                vi, vj = T.axis.remap("SS", [i, j])
                C[vi, vj] = T.{dtype}(0)
'''

_FILL_IMPL = '''
        T.evaluate(T.tvm_fill_fragment(C.data, 16, 16, 16, {frag}, T.{dtype}(0)))
'''

_SYNC_HEAD = '''
@T.prim_func
def wmma_sync_{kind}(a: T.handle, b: T.handle, c: T.handle):
{vars}    A = T.match_buffer(a, (16, 16), "{in_dtype}", offset_factor=16, scope="wmma.matrix_a"{a_strides})
    B = T.match_buffer(b, (16, 16), "{in_dtype}", offset_factor=16, scope="wmma.matrix_b"{b_strides})
    C = T.match_buffer(c, (16, 16), "{out_dtype}", offset_factor=16, scope="wmma.accumulator"{c_strides})
    with T.block("root"):
        T.reads(C[0:16, 0:16], A[0:16, 0:16], B[0:16, 0:16])
        T.writes(C[0:16, 0:16])
'''

_SYNC_DESC = '''
        for i, j, k in T.grid(16, 16, 16):
            with T.block("update"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                C[vi, vj] = C[vi, vj] + T.Cast("{out_dtype}", A[vi, vk]) * T.Cast("{out_dtype}", B[vk, vj])
'''

_SYNC_IMPL = '''
        T.evaluate(T.tvm_mma_sync(C.data, {c_frag}, A.data, {a_frag}, B.data, {b_frag}, C.data, {c_frag}))
'''

_SYNC_VARS = ("    a1 = T.int32()\n    a0 = T.int32()\n    b1 = T.int32()\n    b0 = T.int32()\n"
              "    c1 = T.int32()\n    c0 = T.int32()\n")


def _parse_pair(head: str, desc: str, impl: str, impl_fields: dict, **fields) -> tuple:
    """Parse the shared header with each body; ``impl_fields`` (stride variables and strides)
    are filled in the implementation only, left empty in the description."""
    parse = tvmscript.from_source
    desc_fields = {k: "" for k in impl_fields}
    return (parse((head + desc.lstrip("\n")).format(kind="desc", **desc_fields, **fields)),
            parse((head + impl.lstrip("\n")).format(kind="impl", **impl_fields, **fields)))


def wmma_load(dtype: str, matrix: str, scope: str = "shared") -> tuple:
    """(desc, impl) of a 16 x 16 load from ``scope`` into a ``wmma.matrix_<matrix>`` fragment."""
    impl = {"vars": _STRIDES, "a_strides": ", strides=(s1, s0)", "c_strides": ", strides=(d1, d0)"}
    body = _LOAD_IMPL.replace("{frag}", _frag("C", "d1"))
    return _parse_pair(_COPY_HEAD, _COPY_DESC, body, impl, name=f"load_{matrix}", dtype=dtype,
                       src=scope, dst=f"wmma.matrix_{matrix}")


def wmma_store(dtype: str, scope: str) -> tuple:
    """(desc, impl) of a 16 x 16 store of an accumulator fragment into ``scope``."""
    impl = {"vars": _STRIDES, "a_strides": ", strides=(d1, d0)", "c_strides": ", strides=(s1, s0)"}
    body = _STORE_IMPL.replace("{frag}", _frag("A", "d1"))
    return _parse_pair(_COPY_HEAD, _COPY_DESC, body, impl, name="store", dtype=dtype,
                       src="wmma.accumulator", dst=scope)


def wmma_fill(dtype: str) -> tuple:
    """(desc, impl) of zeroing a 16 x 16 accumulator fragment (a reduction's init)."""
    impl = {"vars": "    d1 = T.int32()\n    d0 = T.int32()\n", "c_strides": ", strides=(d1, d0)"}
    body = _FILL_IMPL.replace("{frag}", _frag("C", "d1"))
    return _parse_pair(_FILL_HEAD, _FILL_DESC, body, impl, dtype=dtype)


def wmma_sync(in_dtype: str, out_dtype: str) -> tuple:
    """(desc, impl) of ``C += A @ B`` on 16 x 16 x 16 fragments."""
    impl = {"vars": _SYNC_VARS, "a_strides": ", strides=(a1, a0)",
            "b_strides": ", strides=(b1, b0)", "c_strides": ", strides=(c1, c0)"}
    body = (_SYNC_IMPL.replace("{a_frag}", _frag("A", "a1")).replace("{b_frag}", _frag("B", "b1"))
            .replace("{c_frag}", _frag("C", "c1")))
    return _parse_pair(_SYNC_HEAD, _SYNC_DESC, body, impl, in_dtype=in_dtype, out_dtype=out_dtype)


# name -> builder of (desc, impl)
WMMA_INTRINSICS = {
    "wmma_load_16x16x16_f16_a_shared": lambda: wmma_load("float16", "a"),
    "wmma_load_16x16x16_f16_b_shared": lambda: wmma_load("float16", "b"),
    "wmma_fill_16x16x16_f32": lambda: wmma_fill("float32"),
    "wmma_sync_16x16x16_f16f16f32": lambda: wmma_sync("float16", "float32"),
    "wmma_store_16x16x16_f32_global": lambda: wmma_store("float32", "global"),
    "wmma_store_16x16x16_f32_shared": lambda: wmma_store("float32", "shared"),
}


# ---------------------------------------------------------------- PTX mma.sync / ldmatrix

# Where element (i, j) of a 16 x 16 tile sits in a (32, 8) "warp" buffer [lane, register]: A
# (m x k) and C/D (m x n) as mma.sync m16n8k16 wants them (TVM's
# shared_16x16_to_ldmatrix_32x8_layout; registers 4..7 of C are the second n8 half); B (k x n) as
# ldmatrix.x4.trans delivers it, registers 0..3 holding b0..b3 of the first n8 half.
_LAYOUT_A = "{w}[{i} % 8 * 4 + {j} % 8 // 2, {j} // 8 * 4 + {i} // 8 * 2 + {j} % 2]"
_LAYOUT_B = "{w}[{j} % 8 * 4 + {i} % 8 // 2, {j} // 8 * 4 + {i} // 8 * 2 + {i} % 2]"


def warp_position(matrix: str, i: int, j: int) -> tuple[int, int]:
    """(lane, register) of element (i, j) of a 16 x 16 ``"a"``, ``"b"`` or ``"c"`` tile in the
    warp layout these intrinsics use (the layout their descriptions index with)."""
    if matrix == "b":
        return j % 8 * 4 + i % 8 // 2, j // 8 * 4 + i // 8 * 2 + i % 2
    return i % 8 * 4 + j % 8 // 2, j // 8 * 4 + i // 8 * 2 + j % 2


_LDMATRIX_HEAD = """
@T.prim_func
def mma_ldmatrix_{kind}(w: T.handle, s: T.handle):
{vars}    W = T.match_buffer(w, (32, 8), "float16", offset_factor=8, scope="warp")
    S = T.match_buffer(s, (16, 16), "float16", offset_factor=8, scope="shared"{s_strides})
    with T.block("root"):
        T.reads(S[0:16, 0:16])
        T.writes(W[0:32, 0:8])
"""

_LDMATRIX_DESC = """
        for i, j in T.grid(16, 16):
            with T.block("load"):
                vi, vj = T.axis.remap("SS", [i, j])
                {target} = S[vi, vj]
"""

# lanes 0-15 point at rows 0-15 of the left 8 columns, lanes 16-31 at those of the right ones
_LDMATRIX_IMPL = """
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            T.ptx_ldmatrix("float16", {trans}, 4, ".b16", W.data, W.elem_offset + tx * 8, S.access_ptr("r"), s1 * (tx % 16) + tx // 16 * 8)
"""

_MMA_HEAD = """
@T.prim_func
def mma_sync_{kind}(a: T.handle, b: T.handle, c: T.handle):
    A = T.match_buffer(a, (32, 8), "float16", offset_factor=8, scope="warp")
    B = T.match_buffer(b, (32, 8), "float16", offset_factor=8, scope="warp")
    C = T.match_buffer(c, (32, 8), "float32", offset_factor=8, scope="warp")
    with T.block("root"):
        T.reads(C[0:32, 0:8], A[0:32, 0:8], B[0:32, 0:8])
        T.writes(C[0:32, 0:8])
"""

_MMA_DESC = """
        for i, j, k in T.grid(16, 16, 16):
            with T.block("update"):
                vi, vj, vk = T.axis.remap("SSR", [i, j, k])
                {c} = {c} + T.Cast("float32", {a}) * T.Cast("float32", {b})
"""

# two m16n8k16: the left and right n8 halves of C (registers 0..3 and 4..7 of each lane)
_MMA_IMPL = """
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            T.ptx_mma("float32", "m16n8k16", "row", "col", "fp16", "fp16", "fp32", A.data, A.elem_offset + tx * 8, B.data, B.elem_offset + tx * 8, C.data, C.elem_offset + tx * 8, False)
            T.ptx_mma("float32", "m16n8k16", "row", "col", "fp16", "fp16", "fp32", A.data, A.elem_offset + tx * 8, B.data, B.elem_offset + tx * 8 + 4, C.data, C.elem_offset + tx * 8 + 4, False)
"""

_MMA_FILL_HEAD = """
@T.prim_func
def mma_fill_{kind}(c: T.handle):
    C = T.match_buffer(c, (32, 8), "float32", offset_factor=8, scope="warp")
    with T.block("root"):
        T.reads()
        T.writes(C[0:32, 0:8])
"""

_MMA_FILL_DESC = """
        for i, j in T.grid(16, 16):
            with T.block("init"):
                vi, vj = T.axis.remap("SS", [i, j])
                {c} = T.float32(0)
"""

_MMA_FILL_IMPL = """
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            for r in range(8):
                C[tx, r] = T.float32(0)
"""

_MMA_STORE_HEAD = """
@T.prim_func
def mma_store_{kind}(c: T.handle, g: T.handle):
{vars}    C = T.match_buffer(c, (32, 8), "float32", offset_factor=8, scope="warp")
    G = T.match_buffer(g, (16, 16), "float32", offset_factor=1, scope="{scope}"{g_strides})
    with T.block("root"):
        T.reads(C[0:32, 0:8])
        T.writes(G[0:16, 0:16])
"""

_MMA_STORE_DESC = """
        for i, j in T.grid(16, 16):
            with T.block("store"):
                vi, vj = T.axis.remap("SS", [i, j])
                G[vi, vj] = {c}
"""

# register r of lane tx holds C[r % 4 // 2 * 8 + tx // 4, r // 4 * 8 + tx % 4 * 2 + r % 2]
_MMA_STORE_IMPL = """
        for tx in T.thread_binding(32, thread="threadIdx.x"):
            for r in range(8):
                G[r % 4 // 2 * 8 + tx // 4, r // 4 * 8 + tx % 4 * 2 + r % 2] = C[tx, r]
"""


def mma_ldmatrix(matrix: str) -> tuple:
    """(desc, impl) of loading a 16 x 16 fp16 tile from shared memory into the warp layout of
    mma.sync's ``matrix`` operand (``"a"``: m x k, ``"b"``: k x n) with one ldmatrix.x4."""
    target = (_LAYOUT_A if matrix == "a" else _LAYOUT_B).format(w="W", i="vi", j="vj")
    impl = {"vars": "    s1 = T.int32()\n    s0 = T.int32()\n", "s_strides": ", strides=(s1, s0)"}
    body = _LDMATRIX_IMPL.replace("{trans}", "False" if matrix == "a" else "True")
    return _parse_pair(_LDMATRIX_HEAD, _LDMATRIX_DESC.replace("{target}", target), body, impl)


def _mma_operands(i: str, j: str, k: str) -> dict:
    return {"a": _LAYOUT_A.format(w="A", i=i, j=k), "b": _LAYOUT_B.format(w="B", i=k, j=j),
            "c": _LAYOUT_A.format(w="C", i=i, j=j)}


def mma_sync() -> tuple:
    """(desc, impl) of ``C += A @ B`` on 16 x 16 x 16 fp16 tiles in the warp layout, fp32 C."""
    desc = _MMA_DESC.format(**_mma_operands("vi", "vj", "vk"))
    return _parse_pair(_MMA_HEAD, desc, _MMA_IMPL, {})


def mma_fill() -> tuple:
    """(desc, impl) of zeroing a 16 x 16 fp32 accumulator tile in the warp layout."""
    desc = _MMA_FILL_DESC.format(c=_LAYOUT_A.format(w="C", i="vi", j="vj"))
    return _parse_pair(_MMA_FILL_HEAD, desc, _MMA_FILL_IMPL, {})


def mma_store(scope: str) -> tuple:
    """(desc, impl) of storing a 16 x 16 fp32 accumulator tile from the warp layout."""
    desc = _MMA_STORE_DESC.format(c=_LAYOUT_A.format(w="C", i="vi", j="vj"))
    impl = {"vars": "    s1 = T.int32()\n    s0 = T.int32()\n", "g_strides": ", strides=(s1, s0)"}
    return _parse_pair(_MMA_STORE_HEAD, desc, _MMA_STORE_IMPL, impl, scope=scope)


# name -> builder of (desc, impl)
MMA_INTRINSICS = {
    "mma_ldmatrix_f16_a": lambda: mma_ldmatrix("a"),
    "mma_ldmatrix_f16_b": lambda: mma_ldmatrix("b"),
    "mma_f16f16f32": mma_sync,
    "mma_fill_16x16_f32": mma_fill,
    "mma_store_16x16_f32_global": lambda: mma_store("global"),
}


CUDA_INTRINSICS = {**WMMA_INTRINSICS, **MMA_INTRINSICS}


def register_cuda_intrinsics() -> list[str]:
    """Register every built-in CUDA intrinsic not registered yet; returns their names."""
    done = []
    for name, build in CUDA_INTRINSICS.items():
        if name not in TensorIntrin._registry:
            TensorIntrin.register(name, *build())
            done.append(name)
    return done


register_cuda_intrinsics()
