"""maskhub predict INPUT... [--model mobile] [--out DIR]"""
import json
import logging

from maskhub.batch.run import RunOptions, run_batch
from maskhub.commands.common import add_model_arguments, add_out_arguments, load_detector, new_run_dir, prepare_out
from maskhub.errors import UsageError
from maskhub.io.tables import TABLE_FORMATS

log = logging.getLogger(__name__)
SUMMARY_KEYS = ('images', 'frames', 'videos', 'faces', 'mask', 'no_mask', 'compliance_rate', 'images_with_no_face',
                'errors')


def parse_formats(text):
    formats = tuple(f.strip().lower() for f in str(text).split(',') if f.strip())
    unknown = [f for f in formats if f not in TABLE_FORMATS]
    if unknown or not formats:
        raise UsageError('--format %s: choose one or more of %s, comma-separated' % (text, ','.join(TABLE_FORMATS)))
    return formats


def add_arguments(parser):
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='image files, folders (recursive), globs, .txt files listing paths, videos')
    add_out_arguments(parser, 'a new folder runs/predict/N')
    add_model_arguments(parser)
    parser.add_argument('--shrink', type=float, default=None,
                        help="detector input scale (default and valid range: the model config's)")
    parser.add_argument('--confs-threshold', '--score-threshold', dest='confs_threshold', type=float, default=None,
                        help="face score threshold (default and valid range: the model config's)")
    parser.add_argument('--multi-scale', action='store_true',
                        help="add the model config's multi-scale passes and merge them by box voting")
    video = parser.add_mutually_exclusive_group()
    video.add_argument('--every-n', type=int, default=None, metavar='N', help='video: take every N-th frame')
    video.add_argument('--fps', type=float, default=None, metavar='N', help='video: take N frames per second')
    parser.add_argument('--save-images', action='store_true',
                        help='write annotated copies under OUT/images/, named after the inputs')
    parser.add_argument('--save-video', action='store_true',
                        help='write each input video, annotated, to OUT/videos/NAME.mp4 (at the sampled frame rate)')
    parser.add_argument('--save-crops', action='store_true', help='write every face to OUT/crops/LABEL/')
    parser.add_argument('--format', default='csv,parquet',
                        help='formats of the per-face and per-image tables, comma-separated, from %s'
                             % ','.join(TABLE_FORMATS))
    parser.add_argument('--resume', action='store_true', help='continue a run into OUT: skip the items it finished')
    parser.add_argument('--num-shards', type=int, default=1, help='split the input into K shards (by path hash)')
    parser.add_argument('--shard-index', type=int, default=0, help='the shard this run predicts (0 .. K-1)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    ray = parser.add_argument_group('distributed (--engine ray)')
    ray.add_argument('--engine', default='local', choices=['local', 'ray'],
                     help='local: this process; ray: a pool of Ray Data actors (this machine or a cluster)')
    ray.add_argument('--ray-address', default=None, metavar='auto|HOST:PORT',
                     help='a running Ray cluster (default: start Ray on this machine for the run)')
    ray.add_argument('--workers', type=int, default=None, metavar='N',
                     help='actors, each holding one detector (default: cluster CPUs / threads per worker)')
    ray.add_argument('--threads-per-worker', type=int, default=None, metavar='T',
                     help='detector threads (CPUs reserved) per actor (default 1)')
    ray.add_argument('--ray-batch-size', type=int, default=None, metavar='K',
                     help='work units per actor call: the unit of retry and balancing (default 4)')
    ray.add_argument('--ray-part-items', type=int, default=None, metavar='N',
                     help='finished items per streamed part file and journal fsync (default 64; at least every 0.5 s)')
    ray.add_argument('--video-chunk-frames', type=int, default=None, metavar='N',
                     help='sampled frames per work unit, so that a long video spreads over workers (default 64)')


def run(args):
    formats = parse_formats(args.format)
    if not 0 <= args.shard_index < max(args.num_shards, 1) or args.num_shards < 1:
        raise UsageError('--shard-index must be in 0 .. --num-shards - 1 (got %d of %d)'
                         % (args.shard_index, args.num_shards))
    if args.resume and args.out is None:
        raise UsageError('--resume needs --out: the folder of the run to continue')
    out = prepare_out(args.out or new_run_dir('predict'), args.exist_ok, reuse=args.resume)
    detector = load_detector(args) if args.engine == 'local' else None
    config = getattr(detector, 'config', None) if detector is not None else model_config(args.model)
    if config is not None:                         # defaults and valid ranges: the model config's
        try:
            config.options(args.shrink, args.confs_threshold)
        except ValueError as err:
            raise UsageError(str(err)) from err
    opts = RunOptions(shrink=args.shrink, confs_threshold=args.confs_threshold, use_multi_scale=args.multi_scale,
                      video_every_n=args.every_n, video_fps=args.fps, save_images=args.save_images,
                      save_crops=args.save_crops, save_video=args.save_video, formats=formats,
                      resume=args.resume, num_shards=args.num_shards, shard_index=args.shard_index,
                      progress=not args.no_progress)
    if args.engine == 'ray':
        summary = _run_on_ray(args, out, opts)
    else:
        summary = run_batch(detector, args.inputs, out, opts)
    print(json.dumps({k: summary[k] for k in SUMMARY_KEYS if k in summary}))
    print('results: %s (predictions and images (one row per input) as %s, errors.csv, summary.json)'
          % (out, ', '.join(formats)))
    return 1 if summary['errors'] else 0


def model_config(model):
    """The model config of --model without loading a runtime (the Ray engine loads it in its workers)."""
    if str(model).startswith('paddlehub:'):
        return None
    from maskhub.config import ModelConfig
    from maskhub.inference.registry import resolve_model_dir
    return ModelConfig.from_yaml(resolve_model_dir(model) / 'model.yml')


def _run_on_ray(args, out, opts):
    from maskhub.batch.ray_engine import RayOptions, run_ray
    from maskhub.commands.common import check_gpu
    check_gpu(args.use_gpu)
    if args.threads is not None:
        log.warning('--threads is ignored with --engine ray: use --threads-per-worker')
    given = {'address': args.ray_address, 'workers': args.workers, 'threads_per_worker': args.threads_per_worker,
             'batch_size': args.ray_batch_size, 'video_chunk_frames': args.video_chunk_frames,
             'part_items': args.ray_part_items}
    ray_opts = RayOptions(**{k: v for k, v in given.items() if v is not None})
    return run_ray(args.model, args.inputs, out, opts, ray_opts, backend=args.backend, precision=args.precision,
                   use_gpu=args.use_gpu)
