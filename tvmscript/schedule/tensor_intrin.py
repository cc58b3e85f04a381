"""Tensor intrinsics: a hardware instruction declared as two loop-level functions.

The *description* says what the instruction computes, in blocks (what tensorize matches a
computation against); the *implementation* says how the hardware does it (usually one
``T.call_llvm_pure_intrin``). Both take the same buffers, so tensorize can bind the
implementation's buffers to the regions it matched in the description.

    TensorIntrin.register("fma_8x1_f32_avx2", fma_desc, fma_impl)
    sch.tensorize(loop, "fma_8x1_f32_avx2")
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir.function import PrimFunc
from ..ir.structural import structural_equal


class TensorIntrinError(ValueError):
    """A description and an implementation that do not fit together, or an unknown name."""


@dataclass(frozen=True)
class TensorIntrin:
    name: str
    desc: PrimFunc
    impl: PrimFunc

    _registry = {}  # type: dict[str, TensorIntrin]

    @staticmethod
    def register(name: str, desc: PrimFunc, impl: PrimFunc, override: bool = False) -> "TensorIntrin":
        """Check that ``desc`` and ``impl`` have matching signatures and register them."""
        if not isinstance(desc, PrimFunc) or not isinstance(impl, PrimFunc):
            raise TensorIntrinError(f"intrinsic {name!r}: description and implementation must be "
                                    "@T.prim_func functions")
        _check_signatures(name, desc, impl)
        if name in TensorIntrin._registry and not override:
            raise TensorIntrinError(f"intrinsic {name!r} is already registered "
                                    "(pass override=True to replace it)")
        intrin = TensorIntrin(name, desc, impl)
        TensorIntrin._registry[name] = intrin
        return intrin

    @staticmethod
    def get(name: str) -> "TensorIntrin":
        """The intrinsic called ``name``; the built-in libraries are loaded on first use."""
        if name not in TensorIntrin._registry:
            _load_builtin_libraries()
        try:
            return TensorIntrin._registry[name]
        except KeyError:
            known = ", ".join(sorted(TensorIntrin._registry)) or "none"
            raise TensorIntrinError(
                f"no tensor intrinsic named {name!r} is registered on this machine "
                f"(registered: {known}); built-in intrinsics are registered only where the "
                "CPU has the instructions they use"
            ) from None

    @staticmethod
    def list() -> list[str]:
        _load_builtin_libraries()
        return sorted(TensorIntrin._registry)


def _load_builtin_libraries() -> None:
    try:
        import backends.intrinsics  # noqa: F401  (registers what this CPU supports)
    except ImportError:  # the backends are not installed next to the IR: no built-ins
        pass


def _check_signatures(name: str, desc: PrimFunc, impl: PrimFunc) -> None:
    if len(desc.params) != len(impl.params):
        raise TensorIntrinError(
            f"intrinsic {name!r}: the description takes {len(desc.params)} parameters but the "
            f"implementation takes {len(impl.params)}"
        )
    for n, (pd, pi) in enumerate(zip(desc.params, impl.params)):
        bd, bi = desc.buffer_map.get(pd), impl.buffer_map.get(pi)
        if (bd is None) != (bi is None):
            raise TensorIntrinError(f"intrinsic {name!r}: parameter {n} is a buffer in one "
                                    "function and a scalar in the other")
        if bd is None:
            if pd.dtype != pi.dtype:
                raise TensorIntrinError(f"intrinsic {name!r}: scalar parameter {n} is {pd.dtype} "
                                        f"in the description but {pi.dtype} in the implementation")
            continue
        if bd.dtype != bi.dtype:
            raise TensorIntrinError(f"intrinsic {name!r}: buffer {n} (`{bd.name}`) is {bd.dtype} in "
                                    f"the description but {bi.dtype} in the implementation")
        if len(bd.shape) != len(bi.shape) or not all(
            structural_equal(a, b, map_free_vars=True) for a, b in zip(bd.shape, bi.shape)
        ):
            raise TensorIntrinError(
                f"intrinsic {name!r}: buffer {n} (`{bd.name}`) has shape {_shape(bd)} in the "
                f"description but {_shape(bi)} in the implementation"
            )
        if bd.scope != bi.scope:
            raise TensorIntrinError(f"intrinsic {name!r}: buffer {n} (`{bd.name}`) is in scope "
                                    f"{bd.scope!r} in the description but {bi.scope!r} in the "
                                    "implementation")


def _shape(buf) -> str:
    return "(" + ", ".join(e.script() for e in buf.shape) + ("," if len(buf.shape) == 1 else "") + ")"
