"""The one error type of schedule primitives."""


class ScheduleError(ValueError):
    """A primitive cannot apply; the message names the block or loop and the violated condition.

    The schedule is left exactly as it was before the call.
    """
