"""``python -m maskhub <command>``: a thin layer over the Python API.

Each command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> exit code``.
"""
import argparse
import importlib
import logging
import sys

COMMANDS = {
    'predict': ('maskhub.commands.predict', 'batch prediction over images, folders, lists, globs and videos'),
    'merge': ('maskhub.commands.merge', 'join the run folders of several shards'),
    'bench': ('maskhub.benchmark', 'runtimes side by side: speed, parity, targets (writes runs/bench/benchmark.md; --report: reports/)'),
    'evaluate': ('maskhub.evaluation.cli', 'face AP, per-size recall and mask accuracy on a labelled set'),
    'loadtest': ('maskhub.serving.loadtest', 'load-test a hub serving endpoint on loopback'),
}


def build_parser():
    parser = argparse.ArgumentParser(prog='maskhub', description='Face-mask detection with PyramidBox-lite.')
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    sub = parser.add_subparsers(dest='command', required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError as err:
            p.set_defaults(_unavailable=str(err))
        p.set_defaults(_module=module)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s', datefmt='%H:%M:%S')
    if getattr(args, '_unavailable', None):
        print('maskhub %s is not available: %s' % (args.command, args._unavailable), file=sys.stderr)
        return 2
    return importlib.import_module(args._module).run(args)


if __name__ == '__main__':
    sys.exit(main())
