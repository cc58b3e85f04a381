"""Interop with Apache TVM: a worker process that drives TVM and the client the tests use."""
