"""Legalizations (kernels written with tvmscript.te) of the shape operators."""
