"""TVMScript: the parser (``parser/``, namespaces ``T``, ``R``, ``I``) and the printer."""
