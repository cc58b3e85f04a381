"""The one error type of schedule primitives."""


class ScheduleError(ValueError):
    """A primitive cannot apply; the message names the block or loop and the violated condition.

    The schedule is left exactly as it was before the call.
    """


class ScheduleArgumentError(ScheduleError, TypeError):
    """A primitive was given an argument of the wrong kind (a loop where a block is expected, a
    string for an integer ...); the message names the primitive and the parameter.

    Both a ScheduleError (what callers of schedules catch) and a TypeError (what it is).
    """
