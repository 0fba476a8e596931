"""``python -m lite_export``: the same as ``maskhub export`` / ``maskhub verify``.

    python -m lite_export --model NAME|DIR|all [--out DIR]     (= maskhub export)
    python -m lite_export verify BUNDLE                         (= maskhub verify)
    python -m lite_export quantise BUNDLE                       INT8 variant
    python -m lite_export benchmark BUNDLE                      x86 latency vs Paddle Inference
"""
import logging
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ('quantise', 'benchmark'):
        logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
        from lite_export import benchmark, quantise
        return (quantise if argv[0] == 'quantise' else benchmark).main(argv[1:])
    from maskhub.cli import main as cli
    if argv and argv[0] == 'verify':
        return cli(argv)
    if argv and argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0
    return cli(['export', *argv])


if __name__ == '__main__':
    sys.exit(main())
