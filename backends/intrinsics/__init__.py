"""Built-in tensor intrinsics, registered for the instructions this CPU has."""

from .x86 import register_x86_intrinsics

register_x86_intrinsics()

__all__ = ["register_x86_intrinsics"]
