"""maskhub evaluate --data SPEC [--model M]: face AP, recall by face width and mask accuracy on labelled data.

SPEC: ``voc:DIR``, ``wider:GT_FILE[:IMAGES]``, ``yaml:FILE`` (its ``val:`` entry) or a development
preset such as ``dev:wider-val`` (see ``maskhub.data.sources``).
"""
import logging
import sys

from maskhub.commands.common import add_out_arguments, check_gpu, new_run_dir, prepare_out
from maskhub.data.sources import SPEC_HELP
from maskhub.errors import UsageError
from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import (CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR, evaluate, headline,
                                         readable_samples, write_outputs)

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument('--model', default='mobile', help="registered name ('mobile', 'mobile_crowd', 'server'), "
                        'a model directory or a hub module directory')
    parser.add_argument('--data', required=True, metavar='SPEC',
                        help='labelled images: %s. A VOC folder holds annotations/*.xml and images/' % SPEC_HELP)
    parser.add_argument('--split', metavar='FILE',
                        help='file of image keys to keep: source/id (or the image name) for voc, '
                             'event/name.jpg for wider')
    scales = parser.add_mutually_exclusive_group()
    scales.add_argument('--shrink', type=float, default=None,
                        help="detector input scale (default and valid range: the model config's)")
    scales.add_argument('--shrinks', type=float, nargs='+', metavar='SHRINK', help='several scales, one result each')
    parser.add_argument('--recall-score', type=float, default=RECALL_SCORE,
                        help='detector score at which recall by face width and matched mask accuracy are taken')
    parser.add_argument('--score-floor', type=float, default=SCORE_FLOOR,
                        help='lowest detection score kept for AP and P-R curves')
    parser.add_argument('--classify-floor', type=float, default=CLASSIFY_FLOOR,
                        help='lowest detection score that gets a mask label')
    parser.add_argument('--max-images', type=int, help='evaluate at most N images, spread over the set')
    parser.add_argument('--threads', type=int, help='CPU threads for the model (default: all cores)')
    parser.add_argument('--use-gpu', action='store_true', help='run on GPU 0 (needs the GPU build of Paddle)')
    add_out_arguments(parser, 'a new folder runs/evaluate/N')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def _fmt(x):
    return '  n/a' if x is None else '%5.1f' % x


def print_summary(metrics):
    h = headline(metrics)
    s = metrics['settings']
    classes = ' | MASK AP %s | NO MASK AP %s | mean %s' % (_fmt(h['mask_ap']), _fmt(h['no_mask_ap']),
                                                            _fmt(h['mask_map'])) if 'mask_map' in metrics else ''
    print('%s shrink %g on %d images (%d faces): face AP@0.5 %s%s'
          % (s['model'], s['shrink'], metrics['images'], metrics['faces'], _fmt(h['face_ap']), classes))
    matched = (' | mask accuracy on matched faces %s' % _fmt(h['matched_mask_accuracy'])
               if 'mask_map' in metrics else '')
    print('  at score %.2f: recall %s | precision %s%s'
          % (s['recall_score'], ' '.join('%s %s' % (k, _fmt(v)) for k, v in h['recall'].items()),
             _fmt(h['precision']), matched))
    if 'recall_by_attribute' in h:
        print('  at score %.2f, recall by WIDER attribute: %s' % (s['recall_score'], ' | '.join(
            '%s %s' % (attribute, ' '.join('%s %s' % (k, _fmt(v)) for k, v in values.items()))
            for attribute, values in h['recall_by_attribute'].items())))
    if 'classifier_on_gt' in metrics:
        c = metrics['classifier_on_gt']
        print('  classifier on ground-truth crops: accuracy %s, macro F1 %s, confusion (rows truth %s) %s'
              % (_fmt(100 * c['accuracy']), _fmt(100 * c['macro_f1']), c['labels'], c['confusion']))


def run(args):
    from maskhub.inference.pipeline import MaskDetector
    if str(args.model).startswith('paddlehub:'):
        # The modules' API returns the classifier's confidence only, not the detector's face score that
        # AP and P-R curves rank by; the same weights evaluate fine from the module's model directory.
        raise UsageError('%s: a PaddleHub module cannot be evaluated through its API (it returns no face score); '
                         'pass the module directory or its model/ folder instead' % args.model)
    samples = spread_subset(load_samples(args.data, args.split, check_images=True), args.max_images)
    out_root = prepare_out(args.out or new_run_dir('evaluate'), args.exist_ok)
    check_gpu(args.use_gpu)
    detector = MaskDetector(args.model, threads=args.threads, use_gpu=args.use_gpu)
    shrinks = args.shrinks or [args.shrink]
    try:
        shrinks = [detector.config.options(shrink)[0] for shrink in shrinks]
    except ValueError as err:
        raise UsageError(str(err)) from err
    unreadable = {}
    for shrink in shrinks:
        metrics, predictions = evaluate(detector, samples, shrink, args.recall_score, args.score_floor,
                                        args.classify_floor, progress=not args.no_progress)
        metrics['settings'].update(data=args.data, split=args.split, max_images=args.max_images)
        unreadable.update((item['path'], item['error']) for item in metrics['unreadable_images'])
        out_dir = write_outputs(metrics, predictions, readable_samples(samples, unreadable),
                                out_root / ('shrink_%g' % shrink), '%s on %s, shrink %g' % (detector.name, args.data, shrink))
        print_summary(metrics)
        print('  written to %s' % out_dir)
    for path, reason in unreadable.items():
        print('maskhub evaluate: left out %s: %s' % (path, reason), file=sys.stderr)
    if unreadable:
        print('maskhub evaluate: %d of %d images could not be read; the metrics cover the other %d'
              % (len(unreadable), len(samples), len(samples) - len(unreadable)), file=sys.stderr)
        return 1
    return 0
