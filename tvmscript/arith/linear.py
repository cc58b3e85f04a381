"""Canonical linear forms of integer expressions: ``c1*t1 + c2*t2 + ... + k``.

Why: index arithmetic after splitting and flattening is a sum of loop variables times strides
written in many shapes (``(i*4 + j)*2 - i*8``). Collecting it into a map from *terms* (anything
that is not a sum or a product with a constant: variables, loads, divisions, ...) to integer
coefficients cancels what cancels and prints one canonical shape (``j*2``).

Integer addition and multiplication wrap at the dtype width, which is arithmetic modulo 2**bits:
a ring, so collecting coefficients is exact whatever the values. Coefficients and the constant are
kept reduced to the dtype's signed range (``signed``) so the form is unique.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.dtype import DataType
from ..ir.expr import Add, IntImm, Mul, PrimExpr, Sub, const

__all__ = ["LinearForm", "difference_bound", "from_linear", "linear_bound", "signed", "to_linear"]


def signed(value: int, dt: DataType) -> int:
    """``value`` modulo ``2**bits``, as the representative in ``[-2**(bits-1), 2**(bits-1))``."""
    bits = dt.bits
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def wrap(value: int, dt: DataType) -> int:
    """``value`` as the dtype stores it (two's complement for int, modulo for uint)."""
    if dt.is_bool:
        return int(value != 0)
    if dt.is_uint:
        return value & ((1 << dt.bits) - 1)
    return signed(value, dt)


@dataclass
class LinearForm:
    """``sum(coeff * term) + constant`` over one integer dtype; terms keep first-seen order."""

    dtype: DataType
    terms: dict[PrimExpr, int] = field(default_factory=dict)
    constant: int = 0

    def add_term(self, term: PrimExpr, coeff: int) -> None:
        value = signed(self.terms.get(term, 0) + coeff, self.dtype)
        if value:
            self.terms[term] = value
        else:
            self.terms.pop(term, None)

    def add(self, other: LinearForm, scale: int = 1) -> LinearForm:
        for term, coeff in other.terms.items():
            self.add_term(term, coeff * scale)
        self.constant = signed(self.constant + other.constant * scale, self.dtype)
        return self

    def scaled(self, scale: int) -> LinearForm:
        return LinearForm(self.dtype).add(self, scale)

    def minus(self, other: LinearForm) -> LinearForm:
        return LinearForm(self.dtype).add(self).add(other, -1)

    @property
    def is_const(self) -> bool:
        return not self.terms


def to_linear(expr: PrimExpr) -> LinearForm:
    """The linear form of a scalar integer expression (whose sub-terms are left as they are)."""
    form = LinearForm(expr.dtype)
    _collect(expr, 1, form)
    return form


def _collect(expr: PrimExpr, scale: int, form: LinearForm) -> None:
    if isinstance(expr, IntImm):
        form.constant = signed(form.constant + expr.value * scale, form.dtype)
    elif isinstance(expr, Add):
        _collect(expr.a, scale, form)
        _collect(expr.b, scale, form)
    elif isinstance(expr, Sub):
        _collect(expr.a, scale, form)
        _collect(expr.b, -scale, form)
    elif isinstance(expr, Mul) and isinstance(expr.b, IntImm):
        _collect(expr.a, scale * expr.b.value, form)
    elif isinstance(expr, Mul) and isinstance(expr.a, IntImm):
        _collect(expr.b, scale * expr.a.value, form)
    else:
        form.add_term(expr, scale)


def from_linear(form: LinearForm) -> PrimExpr:
    """The canonical expression: positive terms in order, then the subtracted ones, then the
    constant (``i*16 + j - k*2 + 3``); a form with no positive term starts with its constant."""
    dt = form.dtype
    positive = [(t, c) for t, c in form.terms.items() if c > 0]
    negative = [(t, c) for t, c in form.terms.items() if c < 0]
    result = None
    for term, coeff in positive:
        result = _plus(result, _times(term, coeff, dt))
    if result is None and negative:
        result = const(wrap(form.constant, dt), dt)
        constant = 0
    else:
        constant = form.constant
    for term, coeff in negative:
        if -coeff > dtype_max(dt):  # the most negative coefficient has no positive twin
            result = _plus(result, _times(term, coeff, dt))
        else:
            result = Sub(result, _times(term, -coeff, dt))
    if result is None:
        return const(wrap(constant, dt), dt)
    if constant > 0:
        return Add(result, const(constant, dt))
    if constant < 0 and -constant <= dtype_max(dt):
        return Sub(result, const(-constant, dt))
    if constant < 0:
        return Add(result, const(wrap(constant, dt), dt))
    return result


def dtype_max(dt: DataType) -> int:
    return (1 << (dt.bits - 1)) - 1 if dt.is_int else (1 << dt.bits) - 1


def _times(term: PrimExpr, coeff: int, dt: DataType) -> PrimExpr:
    return term if coeff == 1 else Mul(term, const(wrap(coeff, dt), dt))


def _plus(acc: PrimExpr | None, item: PrimExpr) -> PrimExpr:
    return item if acc is None else Add(acc, item)


def linear_bound(form: LinearForm, term_bound) -> tuple[int, int]:
    """The exact (unwrapped) range of ``form``, given each term's bound (``term_bound(term)``).

    When this range fits the dtype, the wrapped value the program computes equals the exact
    value of the form (the two are congruent modulo ``2**bits`` and lie in one window), which
    is what lets division and comparison rewrites reason in plain integers.
    """
    lo = hi = form.constant
    for term, coeff in form.terms.items():
        b = term_bound(term)
        lo += min(coeff * b.min, coeff * b.max)
        hi += max(coeff * b.min, coeff * b.max)
    return lo, hi


def difference_bound(a: LinearForm, b: LinearForm, term_bound) -> tuple[int, int]:
    """The exact range of ``a - b`` in plain integers (coefficients are not wrapped here)."""
    diff = LinearForm(a.dtype, dict(a.terms), a.constant - b.constant)
    for term, coeff in b.terms.items():
        value = diff.terms.get(term, 0) - coeff
        if value:
            diff.terms[term] = value
        else:
            diff.terms.pop(term, None)
    return linear_bound(diff, term_bound)
