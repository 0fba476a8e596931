"""Are a detector's missed faces unscored or unlocalised?

``python -m finetune.miss_check --predictions runs/evaluation_cache/<file>.json --data dev:wider-val`` reads the
per-image detections that ``maskhub evaluate`` (``predictions.json``) or ``maskhub report`` (its cache) wrote,
down to their score floor, and sorts each non-ignored ground-truth face of a width band into: found (a detection
at IoU >= 0.5 with score >= 0.5), scored too low (the best such detection is below 0.5) or not localised (no
detection at IoU >= 0.5 at all). Faces of the first kind need better scores, the second better boxes or priors.
"""
import argparse
import json

import numpy as np

from maskhub.evaluation.datasets import load_samples
from maskhub.evaluation.matching import box_iou
from maskhub.evaluation.operating_point import WIDTH_BINS


def face_outcomes(gt_boxes, gt_ignore, det_boxes, det_scores, score=0.5, iou=0.5):
    """Per ground-truth face (ignored ones left out): 'found', 'low_score' or 'not_localised', and its width."""
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    keep = ~np.asarray(gt_ignore, bool) if len(gt) else np.zeros(0, bool)
    gt = gt[keep]
    dets = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(det_scores, np.float64)
    overlaps = box_iou(gt, dets) if len(gt) and len(dets) else np.zeros((len(gt), 0))
    out = []
    for g in range(len(gt)):
        hits = scores[overlaps[g] >= iou] if overlaps.shape[1] else np.zeros(0)
        kind = 'not_localised' if not len(hits) else 'found' if hits.max() >= score else 'low_score'
        out.append((kind, gt[g, 2] - gt[g, 0]))
    return out


def band_table(samples, detections):
    """{band label: {'faces', 'found', 'low_score', 'not_localised'} in percent} over all images."""
    rows = [o for s, d in zip(samples, detections) for o in face_outcomes(s.boxes, s.ignore, d['boxes'], d['scores'])]
    table = {}
    for label, (lo, hi) in WIDTH_BINS.items():
        kinds = [k for k, w in rows if lo <= w < hi]
        table[label] = {'faces': len(kinds), **{k: 100.0 * kinds.count(k) / max(len(kinds), 1)
                                                 for k in ('found', 'low_score', 'not_localised')}}
    return table


def read_detections(path, samples):
    """Per-sample {'boxes', 'scores'} from an evaluate predictions.json or a report cache file."""
    with open(path) as f:
        data = json.load(f)
    images = data.get('images', data)
    missing = [str(s.path) for s in samples if str(s.path) not in images]
    if missing:
        raise SystemExit('miss_check: %s has no detections for %d images, e.g. %s' % (path, len(missing), missing[0]))
    return [images[str(s.path)].get('det', images[str(s.path)]) for s in samples]


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m finetune.miss_check', description=__doc__.split('\n')[0])
    parser.add_argument('--predictions', required=True, help='predictions.json of maskhub evaluate, or a report cache file')
    parser.add_argument('--data', default='dev:wider-val', help='the data those predictions were made on')
    args = parser.parse_args(argv)
    samples = load_samples(args.data)
    for band, row in band_table(samples, read_detections(args.predictions, samples)).items():
        print('%-6s %5d faces: found %5.1f  scored < 0.5 %5.1f  not localised %5.1f'
              % (band, row['faces'], row['found'], row['low_score'], row['not_localised']))


if __name__ == '__main__':
    main()
