"""maskhub loadtest: a bounded load test of a serving endpoint on loopback (maskhub.serving.loadtest).

Writes its report to ``--out`` (default runs/loadtest/N/serving.md); ``--report`` writes
reports/serving.md in the repository instead.
"""
from maskhub.serving.loadtest import add_arguments, run  # noqa: F401
