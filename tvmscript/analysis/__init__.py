"""Analyses over the IR that the parser, schedules and passes share."""

from .access_region import infer_block_access_regions

__all__ = ["infer_block_access_regions"]
