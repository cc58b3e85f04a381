"""Division and modulo by a positive constant, rewritten when bounds prove it exact.

Write the numerator as ``q*c + r`` (``q`` collects the terms whose coefficients ``c`` divides,
``r`` the rest and the constant's remainder). Then ``x // c == q + r // c`` and
``x % c == r % c``; when ``r`` provably lies in ``[m*c, (m+1)*c)`` the division is ``q + m`` and
the modulo ``r - m*c``. Examples, with ``0 <= j < 16``::

    (i*16 + j) // 16  ->  i          (i*16 + j) % 16  ->  j          i // 16  ->  0 (0 <= i < 16)

These identities hold for exact integers; they hold for the program's wrapped values only when
the numerator cannot wrap, which ``Simplifier.fits`` checks (a modulo by a power of two needs no
such check: wrapping changes a value by a multiple of ``2**bits``, which the divisor divides).
Truncating ``Div``/``Mod`` equal the flooring ones when numerator and remainder are non-negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir.expr import Div, FloorDiv, FloorMod, IntImm, PrimExpr, const
from .linear import LinearForm, from_linear, linear_bound, signed, to_linear

if TYPE_CHECKING:  # pragma: no cover
    from .rewrite import Simplifier

_FLOOR = {"FloorDiv": True, "FloorMod": True, "Div": False, "Mod": False}
_IS_DIV = {"FloorDiv": True, "Div": True, "FloorMod": False, "Mod": False}


def divmod_rule(s: Simplifier, node: PrimExpr) -> PrimExpr:
    """``node`` (a division or modulo with simplified operands) in a simpler exact form."""
    if not isinstance(node.b, IntImm) or node.b.value <= 0:
        return node
    name, c = type(node).__name__, node.b.value
    if c == 1:
        return node.a if _IS_DIV[name] else const(0, node.dtype)
    nested = _nested(node, name, c)
    if nested is not None:
        return s.visit(nested)
    return _split(s, node, name, c)


def _nested(node: PrimExpr, name: str, c: int) -> PrimExpr | None:
    """``(x // a) // b -> x // (a*b)`` and ``(x % a) % b -> x % b`` when ``b`` divides ``a``
    (flooring, positive constants: exact for every integer ``x``)."""
    inner = node.a
    if type(inner).__name__ != name or not _FLOOR[name] or not isinstance(inner.b, IntImm):
        return None
    a = inner.b.value
    if a <= 0:
        return None
    if name == "FloorDiv" and a * c <= (1 << (node.dtype.bits - 1)) - 1:
        return FloorDiv(inner.a, const(a * c, node.dtype))
    if name == "FloorMod" and a % c == 0:
        return FloorMod(inner.a, node.b)
    return None


def _split(s: Simplifier, node: PrimExpr, name: str, c: int) -> PrimExpr:
    form = to_linear(node.a)
    floor, is_div = _FLOOR[name], _IS_DIV[name]
    power_of_two_mod = floor and not is_div and c & (c - 1) == 0
    if not power_of_two_mod and not s.fits(form):
        return node
    if not floor and linear_bound(form, s.bound)[0] < 0:
        return node
    quotient, rest = _partition(form, c)
    if not s.fits(rest):
        return node
    lo, hi = linear_bound(rest, s.bound)
    if not floor and lo < 0:
        return node
    if lo // c == hi // c:  # the remainder's block is known: the result is linear
        m = lo // c
        if is_div:
            quotient.constant += m
            return from_linear(quotient)
        rest.constant -= m * c
        return from_linear(rest)
    regrouped = _regroup(s, rest, c, is_div) if floor else None
    if regrouped is not None:
        if not is_div:
            return regrouped
        quotient.add_term(regrouped, 1)
        return from_linear(quotient)
    if is_div and quotient.is_const and quotient.constant == 0:
        return node  # nothing divides out
    if not is_div:
        return node.with_(a=from_linear(rest))
    division = (FloorDiv if floor else Div)(from_linear(rest), node.b)
    quotient.add_term(division, 1)
    return from_linear(quotient)


def _partition(form: LinearForm, d: int) -> tuple[LinearForm, LinearForm]:
    """``form == d * high + low``: ``high`` takes the terms ``d`` divides (divided by ``d``) and
    the constant's quotient, ``low`` the other terms and the constant's remainder."""
    high, low = LinearForm(form.dtype), LinearForm(form.dtype)
    for term, coeff in form.terms.items():
        if coeff % d == 0:
            high.add_term(term, coeff // d)
        else:
            low.add_term(term, coeff)
    high.constant, low.constant = divmod(form.constant, d)
    return high, low


def _regroup(s: Simplifier, rest: LinearForm, c: int, is_div: bool) -> PrimExpr | None:
    """``(g*y + z) // c -> y // (c/g)`` and ``(g*y + z) % c -> y % (c/g) * g + z`` when ``g``
    divides ``c`` and ``0 <= z < g`` (flooring; exact for every integer ``y``). Example, with
    ``0 <= j < 8``: ``(i*8 + j) // 16 -> i // 2`` and ``(i*8 + j) % 16 -> i % 2 * 8 + j``."""
    from math import gcd

    for g in sorted({gcd(c, abs(k)) for k in rest.terms.values()} - {1, c}, reverse=True):
        high, low = _partition(rest, g)
        lo, hi = linear_bound(low, s.bound)
        if high.is_const or lo < 0 or hi >= g:
            continue
        m = const(c // g, rest.dtype)
        y = from_linear(high)
        if is_div:
            return s.visit(FloorDiv(y, m))
        return s.visit(FloorMod(y, m) * const(g, rest.dtype) + from_linear(low))
    return None


_PAIRS = {"FloorMod": FloorDiv, "Mod": Div}


def merge_divmod(form: LinearForm) -> LinearForm:
    """``x // c * c + x % c -> x`` (times any coefficient) in a linear form: the identity holds
    for both floor and truncated division, whatever the value of ``x``."""
    for term, coeff in list(form.terms.items()):
        div_class = _PAIRS.get(type(term).__name__)
        if div_class is None or term not in form.terms or not isinstance(term.b, IntImm):
            continue
        partner = div_class(term.a, term.b)
        if form.terms.get(partner) != signed(coeff * term.b.value, form.dtype):
            continue
        form.add_term(term, -coeff)
        form.add_term(partner, -form.terms[partner])
        form.add(to_linear(term.a), coeff)
    return form
