"""Benchmarks: what the SDK costs, side by side with bare Starlette and the anchor stack.

Run everything with ``python3 dev.py bench`` (``--quick`` for tiny counts). Speed is measured
here and never asserted in tests.
"""
