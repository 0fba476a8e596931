"""Which NMS settings suit a model? Face AP on one set for a grid of NMS IoU thresholds and box-voting IoUs.

``python -m finetune.nms_sweep --model mobile_crowd --data dev:wider-train --max-images 200`` runs the
detector once per image, keeps its heads, and re-runs only the post-processing (``MaskDetector.postprocess``
with each ``NMSParams``) for every setting, so a grid costs one inference pass. Choose on a training split;
confirm on the val split (``reports/training.md``, "NMS with box voting").
"""
import json
import logging
from dataclasses import replace

import numpy as np
from tqdm import tqdm

from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import RECALL_SCORE, SCORE_FLOOR, compute_metrics, readable_samples
from maskhub.evaluation.predictions import Detections
from maskhub.inference.loader import load_detector
from maskhub.io.images import ImageError, read_image

log = logging.getLogger(__name__)


def sparse_heads(heads, floor):
    """Heads of one image with only the priors scoring above ``floor`` kept (the post-processing never reads
    the others): a few MB per crowded image instead of hundreds."""
    kept = []
    for loc, conf in [(heads[0], heads[1])] + ([(heads[3], heads[4])] if len(heads) > 3 else []):
        idx = np.flatnonzero(conf[0, :, 1] > floor)
        kept.append((idx, loc[0, idx], conf[0, idx], conf.shape[1]))
    return kept


def dense_heads(kept):
    """``sparse_heads`` back to the (loc, conf[, landmarks, loc, conf]) tuple ``postprocess`` takes."""
    out = []
    for idx, loc, conf, priors in kept:
        full_loc = np.zeros((1, priors, 4), np.float32)
        full_conf = np.zeros((1, priors, 2), np.float32)
        full_conf[0, :, 0] = 1.0
        full_loc[0, idx], full_conf[0, idx] = loc, conf
        out.append((full_loc, full_conf))
    if len(out) == 1:
        return out[0][0], out[0][1], None
    return out[0][0], out[0][1], None, out[1][0], out[1][1]


def sweep(detector, samples, shrink, settings, progress=True):
    """-> {(iou_threshold, box_vote_iou): metrics} over ``settings``, one inference pass per image. An image
    that cannot be decoded is logged and left out of every setting's metrics."""
    # the lower of the two: with flip_test each pass is NMSed at the config's floor, below the evaluation's
    floor = min(detector.config.detector.nms.score_threshold, SCORE_FLOOR)
    cached, unreadable = [], []
    for sample in tqdm(samples, desc='%s shrink %g' % (detector.name, shrink), disable=not progress):
        try:
            loaded = read_image(sample.path)
        except ImageError as err:
            log.warning('left out %s: %s', sample.path, err.reason)
            unreadable.append(sample.path)
            continue
        prep = detector.preprocess(loaded.image, shrink)
        cached.append((prep, loaded.scale, sparse_heads(detector.infer(prep.tensor), floor)))
    samples = readable_samples(samples, unreadable)
    results = {}
    for iou, vote in tqdm(settings, desc='settings', disable=not progress):
        nms = replace(detector.config.detector.nms, iou_threshold=iou, box_vote_iou=vote)
        predictions = []
        for prep, scale, kept in cached:
            boxes, scores = detector.postprocess(dense_heads(kept), prep, SCORE_FLOOR, nms)
            predictions.append(Detections(boxes.astype(np.float32) * np.float32(scale), scores))
        results[(iou, vote)] = compute_metrics(samples, predictions)
    return results


def add_arguments(parser):
    parser.add_argument('--model', default='mobile_crowd', help='model name or directory')
    parser.add_argument('--data', default='dev:wider-train',
                        help='labelled images: voc:DIR | wider:GT_FILE[:IMAGES] | yaml:FILE | dev:NAME')
    parser.add_argument('--shrink', type=float, default=None, help="default: the model config's")
    parser.add_argument('--max-images', type=int, default=200, help='at most N images, spread over the set')
    parser.add_argument('--iou', default='0.3,0.4,0.45,0.5', help='NMS IoU thresholds, comma-separated')
    parser.add_argument('--vote', default='0,0.5,0.6,0.7', help='box-voting IoUs (0: none), comma-separated')
    parser.add_argument('--threads', type=int, help='CPU threads (default: all cores)')
    parser.add_argument('--out', help='also write the results to this JSON file')


def run(args):
    samples = spread_subset(load_samples(args.data), args.max_images)
    detector = load_detector(args.model, threads=args.threads)
    shrink = detector.config.options(args.shrink)[0]
    settings = [(float(i), float(v)) for i in args.iou.split(',') for v in args.vote.split(',')]
    results = sweep(detector, samples, shrink, settings)
    rows = [{'iou_threshold': iou, 'box_vote_iou': vote, 'face_ap': round(100 * m['ap']['face']['ap'], 2),
             'precision_at_%g' % RECALL_SCORE: round(100 * m['at_score']['precision'], 1),
             'recall_small_at_%g' % RECALL_SCORE: round(100 * m['at_score']['recall']['<32']['recall'], 1)}
            for (iou, vote), m in results.items()]
    print('| NMS IoU | box vote IoU | face AP@0.5 | recall < 32 px at %g | precision at %g |' % ((RECALL_SCORE,) * 2))
    print('|---:|---:|---:|---:|---:|')
    for r in rows:
        print('| %g | %g | %.2f | %.1f | %.1f |' % (r['iou_threshold'], r['box_vote_iou'], r['face_ap'],
                                                    r['recall_small_at_%g' % RECALL_SCORE],
                                                    r['precision_at_%g' % RECALL_SCORE]))
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump({'model': args.model, 'data': args.data, 'shrink': shrink, 'images': len(samples),
                       'results': rows}, f, indent=2)
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('python -m finetune.nms_sweep', __doc__.split('\n\n')[0], add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
