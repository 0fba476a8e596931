"""maskhub report: every available model on the development val sets (WIDER val, mask val) -> accuracy.md.

Needs the development data (``dev:wider-val``, ``dev:mask-val``; MASKHUB_SHARED). Writes under
``--out`` (default runs/report/N); ``--report`` regenerates reports/accuracy.md in the repository.
"""
from maskhub.evaluation.report import add_arguments, run  # noqa: F401
