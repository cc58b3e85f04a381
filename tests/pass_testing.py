"""Helpers for pass tests: parse Before/Expected scripts, run one pass, compare."""

from __future__ import annotations

import tvmscript
from passes import (
    get_pass,
    pipeline,  # noqa: F401  (registers the lowering passes)
)


def check(pass_name: str, before: str, expected: str, **config) -> None:
    """``assert_structural_equal(pass(Before), Expected)`` for two script texts."""
    from passes import PassContext

    func = tvmscript.from_source(before)
    with PassContext(config=config):
        after = get_pass(pass_name)(func)
    tvmscript.verify(after)
    tvmscript.assert_structural_equal(after, tvmscript.from_source(expected))
