"""maskhub bench: prediction speed (maskhub.benchmark).

Writes its report to ``--out`` (default runs/bench/benchmark.md); ``--report`` writes
reports/benchmark.md in the repository instead.
"""
from maskhub.commands.common import REPORTS_DIR, add_report_argument

DEFAULT_OUT = 'runs/bench/benchmark.md'


def add_arguments(parser):
    from maskhub.benchmark import add_arguments as benchmark_arguments
    benchmark_arguments(parser)
    parser.set_defaults(out=DEFAULT_OUT)
    add_report_argument(parser, 'benchmark.md')


def run(args):
    from maskhub.benchmark import run as benchmark
    if args.report:
        args.out = str(REPORTS_DIR / 'benchmark.md')
    return benchmark(args)
