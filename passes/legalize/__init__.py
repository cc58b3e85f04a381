"""Kernels of the graph-level operator library, written with ``tvmscript.te``: one module per
family of operators, each registering with ``passes.legalize_ops.register_legalization``."""
