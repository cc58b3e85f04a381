"""Integer arithmetic analysis: bounds, canonical linear forms and the expression simplifier.

``Analyzer`` is the entry point (``bind`` loop ranges, then ``const_int_bound``, ``simplify``,
``can_prove``); the modules hold one idea each: ``int_bound`` (interval analysis), ``linear``
(canonical sums), ``fold`` (constant folding with exact dtype semantics), ``divmod`` (division
rules), ``rewrite`` (the rule set), ``purity`` (what may not be dropped).
"""

from .analyzer import Analyzer
from .int_bound import Bound, dtype_range
from .linear import LinearForm, from_linear, to_linear

__all__ = ["Analyzer", "Bound", "LinearForm", "dtype_range", "from_linear", "to_linear"]
