"""maskhub bench: the runtimes side by side, speed and parity (maskhub.benchmark).

Writes runs/bench/N/ (``--out``); ``--report`` writes reports/benchmark.md in the repository instead.
"""
from maskhub.benchmark import add_arguments, run  # noqa: F401
