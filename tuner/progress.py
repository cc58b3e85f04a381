"""The tuning progress bar (tqdm, an optional extra): trials done, best GFLOPS so far, errors.

Without tqdm, or with ``progress=False``, every call is a no-op: progress never decides
whether tuning works.
"""

from __future__ import annotations

from typing import Any


class Progress:
    """A bar over ``total`` trials (or seconds); ``advance`` after each measured batch."""

    def __init__(self, total: float, enabled: bool = True, desc: str = "tuning",
                 unit: str = "trial") -> None:
        self.bar: Any = None
        if not enabled or total <= 0:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # an optional extra: no bar, same tuning
            return
        self.bar = tqdm(total=total, desc=desc, unit=unit, leave=True)

    def advance(self, n: int, best_gflops: float | None, errors: int) -> None:
        if self.bar is None:
            return
        best = "-" if best_gflops is None else f"{best_gflops:.3g}"
        self.bar.set_postfix_str(f"best {best} GFLOPS, {errors} errors", refresh=False)
        self.bar.update(n)

    def update(self, n: float, postfix: str) -> None:
        """Move by ``n`` units with ``postfix`` (a whole model's bar: its estimate)."""
        if self.bar is None:
            return
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(min(n, max(0.0, self.bar.total - self.bar.n)))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["Progress"]
