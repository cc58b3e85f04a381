"""Legalizations (kernels written with tvmscript.te) of the math operators."""
