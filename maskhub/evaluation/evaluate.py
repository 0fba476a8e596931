"""Run a model over an evaluation set and compute every metric of the evaluation.

Detections are kept down to ``score_floor`` so the P-R curves and AP see the low-score tail;
only those at or above ``classify_floor`` get a mask label (classifying hundreds of low-score crops
per crowded image costs seconds and barely moves the class APs).
"""
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from maskhub.data.samples import MASK, NO_MASK
from maskhub.evaluation.classifier_metrics import classifier_metrics, classify_ground_truth
from maskhub.evaluation.coco import FACE, average_precision
from maskhub.evaluation.curves import plot_pr_curves
from maskhub.evaluation.operating_point import operating_point
from maskhub.evaluation.predictions import Detections
from maskhub.io.images import ImageError, read_image


SCORE_FLOOR = 0.05
CLASSIFY_FLOOR = 0.1
RECALL_SCORE = 0.5


def has_mask_labels(samples):
    return any(l is not None for s in samples for l in s.labels)


def predict_image(detector, sample, shrink, score_floor=SCORE_FLOOR, classify_floor=CLASSIFY_FLOOR, classify=True):
    """-> (Detections, true labels, predicted labels of the ground-truth crops) for one sample."""
    labels = tuple(detector.config.classifier.labels)
    loaded = read_image(sample.path)
    image, scale = loaded.image, loaded.scale
    boxes, scores = detector.detect(image, shrink, score_floor)
    probs, truth, predicted = None, [], []
    if classify:
        probs = np.full((len(boxes), len(labels)), np.nan, np.float32)
        chosen = scores >= classify_floor
        probs[chosen] = detector.classify(image, boxes[chosen])
        truth, predicted = classify_ground_truth(detector, image, sample, scale)
    return Detections(boxes.astype(np.float32) * np.float32(scale), scores, probs, labels), truth, predicted


def predict_samples(detector, samples, shrink, score_floor=SCORE_FLOOR, classify_floor=CLASSIFY_FLOOR,
                    classify=None, progress=True, cache=None, unreadable=None):
    """-> (list of Detections, ground-truth crop labels (truth, predicted), seconds per image run).

    ``classify`` defaults to whether the set has mask labels. ``cache``: a dict of earlier per-image
    records by path (see ``PredictionCache``); images found there are not run again, new ones are added.
    ``unreadable``: a list that collects (path, reason) of images that cannot be decoded, which are then
    left out (the Detections are those of the other samples, in order); without it such an image raises.
    """
    classify = has_mask_labels(samples) if classify is None else classify
    cache = {} if cache is None else cache
    predictions, truth, predicted = [], [], []
    ran, t0 = 0, time.perf_counter()
    for sample in tqdm(samples, desc='%s shrink %g' % (detector.name, shrink), disable=not progress, leave=False):
        record = cache.get(sample.path)
        if record is None:
            try:
                det, t, p = predict_image(detector, sample, shrink, score_floor, classify_floor, classify)
            except ImageError as err:
                if unreadable is None:
                    raise
                unreadable.append((sample.path, err.reason))
                continue
            record = cache[sample.path] = {'det': det.to_json(), 'truth': t, 'predicted': p}
            ran += 1
        predictions.append(Detections.from_json(record['det']))
        truth += record['truth']
        predicted += record['predicted']
    seconds = (time.perf_counter() - t0) / ran if ran else None
    return predictions, (truth, predicted), seconds


class PredictionCache:
    """Per-image predictions of one model at one shrink, in a JSON file, so a report can grow (more
    images, more models) without re-running what it already has. Keyed by the model's weights and the
    prediction settings: a retrained model or other floors start a new file."""

    def __init__(self, path, key):
        self.path, self.key = Path(path), key
        self.records = {}
        if self.path.exists():
            stored = json.loads(self.path.read_text(encoding='utf-8'))
            if stored.get('key') == key:
                self.records = stored['images']

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix('.tmp')
        tmp.write_text(json.dumps({'key': self.key, 'images': self.records}), encoding='utf-8')
        tmp.replace(self.path)


def compute_metrics(samples, predictions, gt_classification=([], []), recall_score=RECALL_SCORE,
                    labels=(NO_MASK, MASK)):
    """The metrics dict (no model run): face AP, class APs, operating point, classifier on GT crops."""
    result = {'images': len(samples),
              'faces': int(sum((~s.ignore).sum() for s in samples)),
              'ignore_regions': int(sum(s.ignore.sum() for s in samples)),
              'ap': average_precision(samples, predictions, [FACE])}
    if has_mask_labels(samples):
        result['ap'].update(average_precision(samples, predictions, [MASK, NO_MASK]))
        result['mask_map'] = float(np.mean([result['ap'][MASK]['ap'], result['ap'][NO_MASK]['ap']]))
        truth, predicted = gt_classification
        if truth:
            result['classifier_on_gt'] = classifier_metrics(truth, predicted, list(labels))
    result['at_score'] = operating_point(samples, predictions, recall_score)
    return result


def evaluate(detector, samples, shrink, recall_score=RECALL_SCORE, score_floor=SCORE_FLOOR,
             classify_floor=CLASSIFY_FLOOR, progress=True, cache=None):
    """-> (metrics dict, predictions). The dict also records the settings it was computed with. Images that
    cannot be decoded are left out of every metric and listed in ``metrics['unreadable_images']``
    (``readable_samples`` of those paths gives the samples the predictions belong to)."""
    unreadable = []
    predictions, gt_classification, seconds = predict_samples(detector, samples, shrink, score_floor, classify_floor,
                                                              progress=progress, cache=cache, unreadable=unreadable)
    kept = readable_samples(samples, [p for p, _ in unreadable])
    metrics = compute_metrics(kept, predictions, gt_classification, recall_score,
                              tuple(detector.config.classifier.labels))
    metrics['unreadable_images'] = [{'path': p, 'error': reason} for p, reason in unreadable]
    metrics['settings'] = {'model': detector.name, 'shrink': float(shrink), 'score_floor': score_floor,
                           'classify_floor': classify_floor, 'recall_score': recall_score,
                           'seconds_per_image': seconds}
    return metrics, predictions


def readable_samples(samples, unreadable_paths):
    """``samples`` without those at ``unreadable_paths`` (``metrics['unreadable_images']`` of ``evaluate``)."""
    skipped = set(unreadable_paths)
    return [s for s in samples if s.path not in skipped]


def headline(metrics):
    """The few numbers a table row shows, in percent."""
    def pct(x):
        return None if x is None or (isinstance(x, float) and math.isnan(x)) else 100 * x
    recall = metrics['at_score']['recall']
    row = {'face_ap': pct(metrics['ap'][FACE]['ap']),
           'mask_ap': pct(metrics['ap'].get(MASK, {}).get('ap')),
           'no_mask_ap': pct(metrics['ap'].get(NO_MASK, {}).get('ap')),
           'mask_map': pct(metrics.get('mask_map')),
           'recall': {name: pct(v['recall']) for name, v in recall.items()},
           'precision': pct(metrics['at_score']['precision']),
           'matched_mask_accuracy': pct(metrics['at_score']['mask_accuracy']['accuracy']),
           'gt_crop_accuracy': pct(metrics.get('classifier_on_gt', {}).get('accuracy'))}
    by_attribute = metrics['at_score'].get('recall_by_attribute')
    if by_attribute is not None:        # WIDER-format ground truth only
        row['recall_by_attribute'] = {attribute: {name: pct(v['recall']) for name, v in values.items()}
                                      for attribute, values in by_attribute.items()}
    return row


def file_safe(text):
    """A model name, directory or data spec as a file-name part."""
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in str(text)).strip('_')[-60:]


def json_safe(value):
    """NaN -> None, numpy scalars -> Python: strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_outputs(metrics, predictions, samples, out_dir, title):
    """metrics.json, predictions.json (per image path) and pr_curves.png under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'metrics.json').write_text(json.dumps(json_safe(metrics), indent=1), encoding='utf-8')
    (out_dir / 'predictions.json').write_text(
        json.dumps({s.path: d.to_json() for s, d in zip(samples, predictions)}), encoding='utf-8')
    plot_pr_curves({name: entry for name, entry in metrics['ap'].items()}, out_dir / 'pr_curves.png', title)
    return out_dir
