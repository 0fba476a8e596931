"""``maskhub <command>`` (or ``python -m maskhub <command>``): one command line for the whole workflow.

Each command lives in ``maskhub/commands/<name>.py`` exposing ``add_arguments(parser)`` and
``run(args) -> exit status``. Exit status: 0 all done, 1 some items failed (each one is named in the
command's errors), 2 usage or fatal error (one line on stderr; the traceback only with --verbose).
"""
import argparse
import importlib
import logging
import sys

from maskhub import __version__

COMMANDS = {
    'predict': 'detect faces and masks in images, folders, globs, lists and videos',
    'evaluate': 'face AP, recall by face size and mask accuracy on a labelled dataset',
    'train': 'fine-tune the detector or the mask classifier on a dataset',
    'export': 'export a model to Paddle-Lite (.nb for ARM phones and x86) and verify it',
    'verify': 'check a Paddle-Lite bundle against Paddle Inference on real images',
    'serve': 'serve PaddleHub modules over HTTP (the PaddleHub protocol) on this machine',
    'bench': 'the runtimes side by side: speed, parity, targets (runs/bench/N; --report: reports/)',
    'loadtest': 'load-test a serving endpoint on loopback',
    'merge': 'join the run folders of several predict shards',
    'report': 'compare the models on the development validation sets (accuracy report)',
}
EPILOG = ('exit status: 0 all done, 1 some items failed (listed in the errors), 2 usage or fatal error. '
          "Run 'maskhub COMMAND --help' for a command's options.")


def _fatal_types():
    """Errors whose message is the whole story: printed alone, without the exception's type."""
    from maskhub.batch.journal import JournalError
    from maskhub.batch.run import OutputFullError
    from maskhub.config import ConfigError
    from maskhub.errors import MaskhubError
    from maskhub.inference.registry import ModelNotFound
    from maskhub.io.paths import OutputDirError
    return MaskhubError, ModelNotFound, ConfigError, OutputDirError, OutputFullError, JournalError


class HelpFormatter(argparse.HelpFormatter):
    """Shows a default where there is one; options left at None take theirs from the model config."""

    def _get_help_string(self, action):
        text = action.help or ''
        if ('%(default)' not in text and action.default not in (None, False, argparse.SUPPRESS)
                and action.option_strings and action.nargs != 0):
            text += ' (default: %(default)s)'
        return text


def _verbose_parent():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument('-v', '--verbose', action='store_true', default=argparse.SUPPRESS,
                        help='debug logging, and the traceback of a fatal error')
    return parent


def build_parser(prog='maskhub'):
    parser = argparse.ArgumentParser(prog=prog, description='Face-mask detection for photos and video of crowds.',
                                     epilog=EPILOG)
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging, and the traceback of a fatal error')
    parser.add_argument('--version', action='version', version='maskhub %s' % __version__)
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[_verbose_parent()],
                           formatter_class=HelpFormatter)
        module = 'maskhub.commands.%s' % name
        try:
            importlib.import_module(module).add_arguments(p)
        except ImportError as err:
            p.set_defaults(_unavailable=str(err))
        p.set_defaults(_module=module)
    return parser


def setup_logging(verbose=False):
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format='%(asctime)s %(levelname)s %(name)s: %(message)s', datefmt='%H:%M:%S',
                        force=True)
    # importing paddle later sets the root logger back to WARNING: our own loggers keep their level
    for name in ('maskhub', 'finetune', 'lite_export'):
        logging.getLogger(name).setLevel(level)


def call(run, args, prog):
    """``run(args)`` with the exit-status convention: its status, or 2 and one line for a fatal error."""
    verbose = getattr(args, 'verbose', False)
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print('%s: interrupted' % prog, file=sys.stderr)
        return 130
    except _fatal_types() as err:
        if verbose:
            logging.getLogger(prog).exception('fatal error')
        print('%s: error: %s' % (prog, err), file=sys.stderr)
        return 2
    except Exception as err:          # noqa: BLE001 -- anything else is still one line unless --verbose
        if verbose:
            logging.getLogger(prog).exception('fatal error')
            print('%s: error: %s: %s' % (prog, type(err).__name__, err), file=sys.stderr)
        else:
            print('%s: error: %s: %s (run with --verbose for the traceback)' % (prog, type(err).__name__, err),
                  file=sys.stderr)
        return 2


def main(argv=None, prog='maskhub'):
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    name = '%s %s' % (prog, args.command)
    if getattr(args, '_unavailable', None):
        print('%s: error: not available in this installation: %s' % (name, args._unavailable), file=sys.stderr)
        return 2
    return call(importlib.import_module(args._module).run, args, name)


def standalone(prog, description, add_arguments, run, argv=None):
    """A single-command entry point (a development tool) with the same options style and exit statuses."""
    parser = argparse.ArgumentParser(prog=prog, description=description, parents=[_verbose_parent()],
                                     formatter_class=HelpFormatter, epilog=EPILOG)
    add_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(getattr(args, 'verbose', False))
    return call(run, args, prog)


if __name__ == '__main__':
    sys.exit(main())
