"""maskhub merge RUN_DIR... --out DIR"""
import json

from maskhub.batch.run import merge_runs
from maskhub.commands.common import add_out_arguments, prepare_out
from maskhub.errors import UsageError


def add_arguments(parser):
    parser.add_argument('runs', nargs='+', metavar='RUN_DIR', help='run folders to join (e.g. one per shard)')
    add_out_arguments(parser, 'required')


def run(args):
    if not args.out:
        raise UsageError('--out is required: the folder of the merged run')
    out = prepare_out(args.out, args.exist_ok, create=False)     # merge_runs checks it after reading the journals
    try:
        summary = merge_runs(args.runs, out)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from err
    print(json.dumps({k: summary[k] for k in ('images', 'frames', 'faces', 'mask', 'no_mask', 'errors')}))
    print('results: %s' % out)
    return 1 if summary['errors'] else 0
