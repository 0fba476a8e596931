"""``python -m maskhub evaluate --model M --data voc:DIR | wider:GT_FILE | mask-val | wider-val [--split FILE]``."""
import logging
from pathlib import Path

from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import (CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR, evaluate, file_safe,
                                         headline, write_outputs)

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument('--model', default='mobile', help="registered name ('mobile', 'mobile_crowd', 'server'), "
                        'a model directory or a hub module directory')
    parser.add_argument('--data', required=True, help="'voc:DIR' (a mask-set folder or a folder of them), "
                        "'wider:GT_FILE' (images under GT_FILE's folder/images), 'mask-val' or 'wider-val'")
    parser.add_argument('--split', help='file of image keys to keep: source/id for voc, event/name.jpg for wider')
    parser.add_argument('--images-root', help='WIDER images folder, if not next to the gt file')
    parser.add_argument('--shrink', type=float, nargs='+', default=[0.5], help='detector input scale(s)')
    parser.add_argument('--recall-score', type=float, default=RECALL_SCORE,
                        help='detector score at which recall by face width and matched mask accuracy are taken')
    parser.add_argument('--score-floor', type=float, default=SCORE_FLOOR,
                        help='lowest detection score kept for AP and P-R curves')
    parser.add_argument('--classify-floor', type=float, default=CLASSIFY_FLOOR,
                        help='lowest detection score that gets a mask label')
    parser.add_argument('--max-images', type=int, help='evaluate at most N images, spread over the set')
    parser.add_argument('--threads', type=int, help='CPU threads for the model')
    parser.add_argument('--out', help='output folder (default runs/evaluate/<model>_<data>)')
    parser.add_argument('--no-progress', action='store_true')


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
        log.error('%s: a PaddleHub module cannot be evaluated through its API (it returns no face score); '
                  'pass the module directory or its model/ folder instead', args.model)
        return 2
    samples = spread_subset(load_samples(args.data, args.split, args.images_root), args.max_images)
    if not samples:
        log.error('no images in %s', args.data)
        return 1
    detector = MaskDetector(args.model, threads=args.threads)
    default_out = Path('runs') / 'evaluate' / ('%s_%s' % (file_safe(args.model), file_safe(args.data)))
    out_root = Path(args.out or default_out)
    for shrink in args.shrink:
        metrics, predictions = evaluate(detector, samples, shrink, args.recall_score, args.score_floor,
                                        args.classify_floor, progress=not args.no_progress)
        metrics['settings'].update(data=args.data, split=args.split, max_images=args.max_images)
        out_dir = write_outputs(metrics, predictions, samples, out_root / ('shrink_%g' % shrink),
                                '%s on %s, shrink %g' % (detector.name, args.data, shrink))
        print_summary(metrics)
        print('  written to %s' % out_dir)
    return 0
