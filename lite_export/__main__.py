"""``python -m lite_export``: the same as ``maskhub export`` / ``maskhub verify``.

    python -m lite_export --model NAME|DIR|all [--out DIR]     (= maskhub export)
    python -m lite_export verify BUNDLE                         (= maskhub verify)
    python -m lite_export quantise BUNDLE                       INT8 variant
    python -m lite_export benchmark BUNDLE                      x86 latency vs Paddle Inference
"""
import argparse
import logging
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    from maskhub.cli import call, main as cli
    if argv and argv[0] in ('quantise', 'benchmark'):
        logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
        from lite_export import benchmark, quantise
        tool = quantise if argv[0] == 'quantise' else benchmark
        verbose = argparse.Namespace(verbose='--verbose' in argv or '-v' in argv)
        rest = [a for a in argv[1:] if a not in ('--verbose', '-v')]
        return call(lambda _: tool.main(rest), verbose, 'python -m lite_export %s' % argv[0])
    if argv and argv[0] == 'verify':
        return cli(argv)
    if argv and argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0
    return cli(['export', *argv])


if __name__ == '__main__':
    sys.exit(main())
