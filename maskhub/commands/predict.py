"""maskhub predict INPUT... --model mobile --out DIR"""
import json
import logging
import sys

from maskhub.batch.journal import JournalError
from maskhub.batch.run import OutputFullError, RunOptions, run_batch
from maskhub.io.paths import OutputDirError, check_output_dir

log = logging.getLogger(__name__)


def add_model_arguments(parser):
    parser.add_argument('--model', default='mobile',
                        help="'mobile', 'mobile_crowd', 'server', a model directory, or paddlehub:<module name>")
    parser.add_argument('--backend', default='inference', choices=['inference', 'dygraph'])
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: all cores)')
    parser.add_argument('--use-gpu', action='store_true')


def load_detector(args):
    from maskhub.inference.registry import load_detector as load
    return load(args.model, backend=args.backend, threads=args.threads, use_gpu=args.use_gpu)


def add_arguments(parser):
    parser.add_argument('inputs', nargs='+', help='image files, folders (recursive), globs, .txt lists, videos')
    parser.add_argument('--out', required=True, help='run folder to write')
    add_model_arguments(parser)
    parser.add_argument('--shrink', type=float, default=None, help='detector input scale (default 0.5)')
    parser.add_argument('--confs-threshold', '--score-threshold', dest='confs_threshold', type=float, default=None,
                        help='face score threshold (default 0.6)')
    parser.add_argument('--multi-scale', action='store_true', help='add the multi-scale passes with box voting')
    video = parser.add_mutually_exclusive_group()
    video.add_argument('--every-n', type=int, default=None, help='video: take every N-th frame')
    video.add_argument('--fps', type=float, default=None, help='video: take N frames per second')
    parser.add_argument('--save-images', action='store_true', help='write annotated images under DIR/images')
    parser.add_argument('--resume', action='store_true', help='skip items a previous run into DIR finished')
    parser.add_argument('--num-shards', type=int, default=1)
    parser.add_argument('--shard-index', type=int, default=0)
    parser.add_argument('--no-progress', action='store_true')


def run(args):
    if args.shrink is not None and not 0 < args.shrink <= 4:
        raise SystemExit('--shrink must be in (0, 4]')
    try:
        check_output_dir(args.out)          # before the model loads: a bad --out fails in a second
    except OutputDirError as err:
        print('maskhub predict: %s' % err, file=sys.stderr)
        return 2
    detector = load_detector(args)
    opts = RunOptions(shrink=args.shrink, confs_threshold=args.confs_threshold, use_multi_scale=args.multi_scale,
                      video_every_n=args.every_n, video_fps=args.fps, save_images=args.save_images,
                      resume=args.resume, num_shards=args.num_shards, shard_index=args.shard_index,
                      progress=not args.no_progress)
    try:
        summary = run_batch(detector, args.inputs, args.out, opts)
    except (OutputDirError, OutputFullError, JournalError) as err:
        print('maskhub predict: %s' % err, file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ('images', 'faces', 'mask', 'no_mask', 'compliance_rate',
                                              'images_with_no_face', 'errors')}))
    print('results: %s (predictions, images (one row per input), errors, summary.json)' % args.out)
    return 1 if summary['errors'] else 0
