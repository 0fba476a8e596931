"""maskhub merge RUN_DIR... --out DIR"""
import json

from maskhub.batch.run import merge_runs


def add_arguments(parser):
    parser.add_argument('runs', nargs='+', help='run folders (e.g. one per shard)')
    parser.add_argument('--out', required=True)


def run(args):
    summary = merge_runs(args.runs, args.out)
    print(json.dumps({k: summary[k] for k in ('images', 'faces', 'mask', 'no_mask', 'errors')}))
    print('results: %s' % args.out)
    return 0
