"""Test-suite wide fixtures.

Every test runs inside ``PassContext(instruments=[VerifyWellFormed()])``, so any pass a test
calls (outside a ``PassContext`` of its own) is checked for producing well-formed IR, and an
error names the pass that broke the program (DESIGN.md: the suite verifies after every pass).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from passes import PassContext
from passes.instruments import VerifyWellFormed


@pytest.fixture(autouse=True)
def verify_after_every_pass() -> Iterator[None]:
    with PassContext(instruments=[VerifyWellFormed()]):
        yield
