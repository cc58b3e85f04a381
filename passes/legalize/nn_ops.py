"""Legalizations (kernels written with tvmscript.te) of the nn operators."""
