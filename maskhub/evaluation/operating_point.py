"""Metrics at one stated detector score: recall by face width, precision, and mask/no-mask accuracy
on the faces the detector found (detections matched to ground truth at IoU 0.5, label agreement)."""
import numpy as np

from maskhub.evaluation.matching import match_detections

# face width in pixels of the stored image: [low, high)
WIDTH_BINS = {'<16': (0, 16), '16-32': (16, 32), '32-64': (32, 64), '>=64': (64, float('inf'))}
SMALL_FACE_WIDTH = 32


def _ratio(num, den):
    return float(num) / den if den else float('nan')


def operating_point(samples, predictions, score_threshold, iou_threshold=0.5):
    """{'score_threshold', 'recall': {bin: {'faces', 'found', 'recall'}} with bins of WIDTH_BINS plus
    '<32' and 'all', 'precision', 'detections', 'mask_accuracy': {'matched_labelled', 'correct', 'accuracy'}}."""
    bins = dict(WIDTH_BINS, **{'<%d' % SMALL_FACE_WIDTH: (0, SMALL_FACE_WIDTH), 'all': (0, float('inf'))})
    faces = dict.fromkeys(bins, 0)
    found = dict.fromkeys(bins, 0)
    true_pos = counted_dets = 0
    matched_labelled = correct = 0
    for sample, det in zip(samples, predictions):
        keep = det.scores >= score_threshold
        boxes, scores = det.boxes[keep], det.scores[keep]
        predicted = [l for l, k in zip(det.predicted_labels(), keep) if k]
        gt_hit, det_gt, det_ignored = match_detections(sample.boxes, sample.ignore, boxes, scores, iou_threshold)
        regular = ~sample.ignore
        widths = sample.boxes[:, 2] - sample.boxes[:, 0]
        for name, (lo, hi) in bins.items():
            in_bin = regular & (widths >= lo) & (widths < hi)
            faces[name] += int(in_bin.sum())
            found[name] += int((gt_hit & in_bin).sum())
        true_pos += int((det_gt >= 0).sum())
        counted_dets += int((~det_ignored).sum())
        for d in np.flatnonzero(det_gt >= 0):
            truth = sample.labels[det_gt[d]]
            if truth is None or predicted[d] is None:
                continue
            matched_labelled += 1
            correct += int(predicted[d] == truth)
    return {'score_threshold': float(score_threshold),
            'recall': {n: {'faces': faces[n], 'found': found[n], 'recall': _ratio(found[n], faces[n])} for n in bins},
            'precision': _ratio(true_pos, counted_dets),
            'detections': counted_dets,
            'mask_accuracy': {'matched_labelled': matched_labelled, 'correct': correct,
                              'accuracy': _ratio(correct, matched_labelled)}}
