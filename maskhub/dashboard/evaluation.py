"""Scoring a run against ground truth the analyst points to (a VOC folder, or a WIDER gt file + images).

The run's face rows become ``maskhub.evaluation`` detections per ground-truth image; the metrics are
``maskhub.evaluation.evaluate.compute_metrics``: face / MASK / NO MASK AP@0.5 (pycocotools), and at one
detector score recall by face width, precision and mask accuracy on the matched faces. A run keeps
only the faces above its detection threshold, so its AP covers scores from that threshold up.
"""
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np
import pandas as pd

from maskhub.data.samples import LABELS
from maskhub.evaluation.datasets import load_samples
from maskhub.evaluation.evaluate import compute_metrics, headline
from maskhub.evaluation.matching import match_detections
from maskhub.evaluation.predictions import Detections

VOC, WIDER = 'voc', 'wider'
BOX = ['left', 'top', 'right', 'bottom']
SHOWN_NAMES = 5         # image names quoted in a message


class GroundTruthError(ValueError):
    """Ground truth that cannot be read or does not fit the run; the message says what to fix."""


def quoted_names(paths):
    paths = sorted(paths)
    shown = ', '.join(posixpath.basename(str(p).replace('\\', '/')) for p in paths[:SHOWN_NAMES])
    return shown + (' and %d more' % (len(paths) - SHOWN_NAMES) if len(paths) > SHOWN_NAMES else '')


def load_ground_truth(kind, location, images_root=None):
    """``kind`` VOC: a folder with annotations/ + images/ (or a folder of such folders); WIDER: a
    ground-truth .txt file, its images under ``images_root`` (default: images/ beside the file)."""
    location = str(location or '').strip()
    if not location:
        raise GroundTruthError('enter the %s first' % ('ground-truth folder' if kind == VOC else 'ground-truth file'))
    path = Path(location).expanduser()
    if kind == VOC and not path.is_dir():
        raise GroundTruthError('%s is not a folder: a VOC ground truth is a folder with annotations/ (one .xml '
                               'per image) and images/' % path)
    if kind == WIDER and not path.is_file():
        raise GroundTruthError('%s is not a file: a WIDER ground truth is a wider_face_*_bbx_gt.txt file' % path)
    if kind == WIDER:
        root = Path(str(images_root).strip()).expanduser() if images_root and str(images_root).strip() \
            else path.parent / 'images'
        if not root.is_dir():
            raise GroundTruthError('images folder %s does not exist: give the folder the paths in %s are relative to'
                                   % (root, path.name))
        images_root = root
    try:
        samples = load_samples('%s:%s' % (kind, path), images_root=images_root)
    except (OSError, ValueError, ParseError, AttributeError, IndexError, TypeError) as err:
        raise GroundTruthError('%s cannot be read as %s ground truth: %s' % (path, kind.upper(), err)) from None
    if not samples:
        raise GroundTruthError('%s holds no annotated image' % path)
    return samples


def _file_name(path):
    return posixpath.basename(str(path).replace('\\', '/'))


def _normalised(path):
    return str(Path(str(path)).expanduser().resolve(strict=False))


def detections_from_rows(rows, labels=LABELS):
    """A run's face rows of one image -> Detections (scores: the face score; probabilities: the label's
    confidence, the rest to the other label)."""
    rows = rows.sort_values('face_score', ascending=False, kind='stable')
    boxes = rows[BOX].to_numpy(np.float32)
    scores = rows['face_score'].to_numpy(np.float32)
    probs = np.full((len(rows), len(labels)), np.nan, np.float32)
    for k, (label, confidence) in enumerate(zip(rows['label'].astype(object), rows['confidence'])):
        if label in labels and not pd.isna(confidence):
            probs[k] = (1.0 - confidence) / (len(labels) - 1)
            probs[k, labels.index(label)] = confidence
    return Detections(boxes, scores, probs, tuple(labels))


@dataclass
class RunEvaluation:
    metrics: dict                       # maskhub.evaluation.evaluate.compute_metrics
    headline: dict                      # its few numbers, in percent
    images: int                         # ground-truth images found in the run
    by: str                             # 'path' or 'name': how images were matched
    lowest_score: float = None          # the lowest face score the run kept
    per_image: pd.DataFrame = None      # image, faces, detections, found, false positives
    not_in_run: list = field(default_factory=list)      # ground-truth images the run did not process
    not_in_ground_truth: int = 0        # run images without ground truth (left out)


def _run_images(run):
    """Paths the run processed (images without a face included when its journal says so)."""
    still = run.predictions[run.predictions['frame'].isna()]
    paths = set(still['path'].dropna())
    if run.items is not None and len(run.items):
        images = run.items[(run.items['kind'] != 'video') & ~run.items['failed'].astype(bool)]
        paths |= set(images['path'].dropna())
    return paths


def match_images(samples, run_paths):
    """{sample index: run path} by the resolved path, else (no path shared) by file name; and the key."""
    by_path = {_normalised(p): p for p in run_paths}
    found = {i: by_path[_normalised(s.path)] for i, s in enumerate(samples) if _normalised(s.path) in by_path}
    if found:
        return found, 'path'
    by_name = {}
    for p in run_paths:
        by_name.setdefault(_file_name(p), p)
    return {i: by_name[_file_name(s.path)] for i, s in enumerate(samples) if _file_name(s.path) in by_name}, 'name'


def default_score(lowest):
    """The lowest face score a run kept, rounded down to 0.01 (0 for a run without faces)."""
    return 0.0 if lowest is None else math.floor(100 * lowest) / 100


def evaluate_run(run, samples, score=None):
    """Score ``run`` (a LoadedRun) on the ground-truth ``samples`` it has images of.

    ``score``: detector score of the operating point (recall, precision, mask accuracy); default
    ``default_score``: every face in the run's table.
    """
    run_paths = _run_images(run)
    matched, by = match_images(samples, run_paths)
    if not matched:
        raise GroundTruthError('none of the %d ground-truth images is in run %s (e.g. %s); point to the ground '
                               'truth of the images this run was made from' % (len(samples), run.name,
                                                                                 quoted_names(s.path for s in samples)))
    still = run.predictions[run.predictions['frame'].isna()]
    rows_by_path = {p: rows for p, rows in still.groupby('path', sort=False)}
    empty = still.iloc[:0]
    kept, predictions = [], []
    for i in sorted(matched):
        kept.append(samples[i])
        predictions.append(detections_from_rows(rows_by_path.get(matched[i], empty)))
    lowest = float(still['face_score'].min()) if len(still) else None
    if score is None:
        score = default_score(lowest)
    metrics = compute_metrics(kept, predictions, recall_score=float(score))
    used = set(matched.values())
    return RunEvaluation(metrics, headline(metrics), len(kept), by, lowest, per_image_table(kept, predictions, score),
                         [samples[i].path for i in range(len(samples)) if i not in matched],
                         len(run_paths - used))


def per_image_table(samples, predictions, score):
    """One row per evaluated image at the operating score: faces, detections, found, missed, false positives."""
    rows = []
    for sample, det in zip(samples, predictions):
        keep = det.scores >= (score or 0.0)
        gt_hit, det_gt, det_ignored = match_detections(sample.boxes, sample.ignore, det.boxes[keep], det.scores[keep])
        faces = int((~sample.ignore).sum())
        rows.append({'image': _file_name(sample.path), 'faces': faces, 'detections': int(keep.sum()),
                     'found': int(gt_hit.sum()), 'missed': faces - int(gt_hit.sum()),
                     'false_positives': int(((det_gt < 0) & ~det_ignored).sum())})
    table = pd.DataFrame(rows, columns=['image', 'faces', 'detections', 'found', 'missed', 'false_positives'])
    return table.sort_values(['missed', 'false_positives', 'image'], ascending=[False, False, True],
                             kind='stable').reset_index(drop=True)


def pr_table(metrics):
    """Precision at COCO's recall thresholds per category (face, MASK, NO MASK) with ground truth."""
    parts = []
    for name, entry in metrics['ap'].items():
        if entry.get('precision'):
            precision = np.asarray(entry['precision'], np.float64)
            recall = np.asarray(entry['recall_thresholds'], np.float64)
            keep = (precision >= 0) & (recall <= entry['max_recall'] + 1e-9)   # the recall reached
            parts.append(pd.DataFrame({'category': name, 'recall': recall[keep], 'precision': precision[keep]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=['category', 'recall', 'precision'])


def recall_table(metrics):
    """Recall by face width (pixels) at the operating score."""
    rows = [{'face width': name, 'faces': v['faces'], 'found': v['found'],
             'recall': None if not v['faces'] else v['recall']}
            for name, v in metrics['at_score']['recall'].items()]
    return pd.DataFrame(rows)


def attribute_recall_table(metrics):
    """Recall by WIDER attribute value (pose, occlusion, blur) at the operating score; None without them."""
    by_attribute = metrics['at_score'].get('recall_by_attribute')
    if not by_attribute:
        return None
    rows = [{'attribute': attribute, 'value': name, 'faces': v['faces'], 'found': v['found'],
             'recall': None if not v['faces'] else v['recall']}
            for attribute, values in by_attribute.items() for name, v in values.items()]
    return pd.DataFrame(rows)
