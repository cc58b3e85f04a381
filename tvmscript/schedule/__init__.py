"""Schedules: TensorIR-style primitives that transform loop-level functions, with a trace."""

from .errors import ScheduleArgumentError, ScheduleError
from .handles import BlockRV, IntRV, LoopRV
from .schedule import Schedule, register_primitive
from .trace import Instruction, Trace

# primitive modules attach their methods to Schedule when imported
from . import get  # noqa: E402,F401
from . import compute_location  # noqa: E402,F401
from . import cache  # noqa: E402,F401
from . import loops  # noqa: E402,F401
from . import sampling  # noqa: E402,F401
from . import reduction  # noqa: E402,F401
from . import blockize  # noqa: E402,F401
from . import layout  # noqa: E402,F401
from . import tensorize  # noqa: E402,F401
from .index_map import IndexMap  # noqa: E402

__all__ = ["BlockRV", "IndexMap", "Instruction", "IntRV", "LoopRV", "Schedule",
           "ScheduleArgumentError", "ScheduleError",
           "Trace", "register_primitive"]
