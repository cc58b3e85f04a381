"""Backends: code generation (LLVM, CUDA), the reference interpreter and the runtime."""
