"""The Incidencias benchmark: ``python -m bench`` (see docs/benchmarks/README.md).

Not part of the test suite: it measures and reports, it asserts nothing.
"""
