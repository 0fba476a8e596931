"""maskhub merge RUN_DIR... --out DIR"""
import json
import sys

from maskhub.batch.journal import JournalError
from maskhub.batch.run import OutputFullError, merge_runs
from maskhub.io.paths import OutputDirError


def add_arguments(parser):
    parser.add_argument('runs', nargs='+', help='run folders (e.g. one per shard)')
    parser.add_argument('--out', required=True)


def run(args):
    try:
        summary = merge_runs(args.runs, args.out)
    except (JournalError, OutputDirError, OutputFullError, FileNotFoundError) as err:
        print('maskhub merge: %s' % err, file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ('images', 'faces', 'mask', 'no_mask', 'errors')}))
    print('results: %s' % args.out)
    return 0
