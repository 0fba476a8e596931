"""Metrics at one stated detector score: recall by face width and by WIDER attribute, precision, and
mask/no-mask accuracy on the faces the detector found (detections matched to ground truth at IoU 0.5,
label agreement)."""
import numpy as np

from maskhub.data.wider import ATTRIBUTE_VALUES
from maskhub.evaluation.matching import match_detections

# face width in pixels of the stored image: [low, high)
WIDTH_BINS = {'<16': (0, 16), '16-32': (16, 32), '32-64': (32, 64), '>=64': (64, float('inf'))}
SMALL_FACE_WIDTH = 32
# WIDER attributes broken down at the operating point, each into every value it takes
RECALL_ATTRIBUTES = ('pose', 'occlusion', 'blur')


def _ratio(num, den):
    return float(num) / den if den else float('nan')


def has_attributes(samples):
    """True when every sample carries WIDER face attributes (WIDER-format ground truth)."""
    return bool(samples) and all('attributes' in s.extra for s in samples)


def _bucket_masks(sample, bins, by_attribute):
    """(group, bucket) -> bool mask over the sample's faces (before removing ignore regions)."""
    widths = sample.boxes[:, 2] - sample.boxes[:, 0]
    masks = {('width', name): (widths >= lo) & (widths < hi) for name, (lo, hi) in bins.items()}
    if by_attribute:
        for attribute in RECALL_ATTRIBUTES:
            values = sample.extra['attributes'][attribute]
            for value, name in enumerate(ATTRIBUTE_VALUES[attribute]):
                masks[attribute, name] = values == value
    return masks


def _recall_table(faces, found, group):
    return {name: {'faces': faces[g, name], 'found': found[g, name], 'recall': _ratio(found[g, name], faces[g, name])}
            for g, name in faces if g == group}


def operating_point(samples, predictions, score_threshold, iou_threshold=0.5):
    """{'score_threshold', 'recall': {bin: {'faces', 'found', 'recall'}} with bins of WIDTH_BINS plus
    '<32' and 'all', 'precision', 'detections', 'mask_accuracy': {'matched_labelled', 'correct', 'accuracy'}}.

    For WIDER-format ground truth (see ``has_attributes``) also 'recall_by_attribute':
    {attribute: {value name: {'faces', 'found', 'recall'}}} for RECALL_ATTRIBUTES, from the same matches.
    """
    bins = dict(WIDTH_BINS, **{'<%d' % SMALL_FACE_WIDTH: (0, SMALL_FACE_WIDTH), 'all': (0, float('inf'))})
    by_attribute = has_attributes(samples)
    keys = [('width', name) for name in bins]
    if by_attribute:
        keys += [(a, name) for a in RECALL_ATTRIBUTES for name in ATTRIBUTE_VALUES[a]]
    faces, found = dict.fromkeys(keys, 0), dict.fromkeys(keys, 0)
    true_pos = counted_dets = 0
    matched_labelled = correct = 0
    for sample, det in zip(samples, predictions):
        keep = det.scores >= score_threshold
        boxes, scores = det.boxes[keep], det.scores[keep]
        predicted = [l for l, k in zip(det.predicted_labels(), keep) if k]
        gt_hit, det_gt, det_ignored = match_detections(sample.boxes, sample.ignore, boxes, scores, iou_threshold)
        regular = ~sample.ignore
        for key, mask in _bucket_masks(sample, bins, by_attribute).items():
            faces[key] += int((regular & mask).sum())
            found[key] += int((gt_hit & regular & mask).sum())
        true_pos += int((det_gt >= 0).sum())
        counted_dets += int((~det_ignored).sum())
        for d in np.flatnonzero(det_gt >= 0):
            truth = sample.labels[det_gt[d]]
            if truth is None or predicted[d] is None:
                continue
            matched_labelled += 1
            correct += int(predicted[d] == truth)
    result = {'score_threshold': float(score_threshold),
              'recall': _recall_table(faces, found, 'width'),
              'precision': _ratio(true_pos, counted_dets),
              'detections': counted_dets,
              'mask_accuracy': {'matched_labelled': matched_labelled, 'correct': correct,
                                'accuracy': _ratio(correct, matched_labelled)}}
    if by_attribute:
        result['recall_by_attribute'] = {a: _recall_table(faces, found, a) for a in RECALL_ATTRIBUTES}
    return result
