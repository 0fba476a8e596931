"""AP@0.5 with pycocotools: ground truth and detections as COCO dicts, COCOeval at IoU 0.5 only.

Ignore regions (``Sample.ignore``) become ``iscrowd`` annotations: COCOeval matches detections to
them by intersection over the detection's area and counts those detections neither as true nor
as false positives. The per-image detection limit is raised above the detector's keep_top_k so
crowded images are not cut at COCO's default 100.
"""
import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

FACE = 'face'
MAX_DETECTIONS = 10000


def _xywh(box):
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _quiet(fn, *args):
    """pycocotools prints progress to stdout; keep our output clean."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def coco_ground_truth(samples, categories):
    """COCO dataset dict. ``categories`` = [FACE] (class-agnostic) or class labels ('NO MASK', 'MASK').

    In class mode a face without a label, or an ignore region, is added to every category as a crowd
    region, so detecting it is never penalised.
    """
    cat_ids = {name: i + 1 for i, name in enumerate(categories)}
    images, annotations = [], []
    for image_id, sample in enumerate(samples, start=1):
        images.append({'id': image_id, 'file_name': sample.path,
                       'width': int(sample.width or 0), 'height': int(sample.height or 0)})
        for box, label, ignore in zip(sample.boxes, sample.labels, sample.ignore):
            if categories == [FACE]:
                targets, crowd = [FACE], bool(ignore)
            elif label is None or ignore:
                targets, crowd = categories, True
            else:
                targets, crowd = [label], False
            xywh = _xywh(box)
            for name in targets:
                annotations.append({'id': len(annotations) + 1, 'image_id': image_id, 'category_id': cat_ids[name],
                                    'bbox': xywh, 'area': xywh[2] * xywh[3], 'iscrowd': int(crowd)})
    return {'images': images, 'annotations': annotations,
            'categories': [{'id': i, 'name': n} for n, i in cat_ids.items()]}


def coco_detections(predictions, categories):
    """COCO result list. Class mode: each classified detection goes to its argmax label, scored by
    face score × that label's probability (the chance it is a face *and* of that class)."""
    cat_ids = {name: i + 1 for i, name in enumerate(categories)}
    results = []
    for image_id, det in enumerate(predictions, start=1):
        if categories == [FACE]:
            for box, score in zip(det.boxes, det.scores):
                results.append({'image_id': image_id, 'category_id': 1, 'bbox': _xywh(box), 'score': float(score)})
            continue
        for box, score, label, p in zip(det.boxes, det.scores, det.predicted_labels(),
                                        det.probs if det.probs is not None else [None] * len(det.boxes)):
            if label is None:
                continue
            results.append({'image_id': image_id, 'category_id': cat_ids[label], 'bbox': _xywh(box),
                            'score': float(score) * float(p[det.labels.index(label)])})
    return results


def average_precision(samples, predictions, categories=(FACE,), iou_threshold=0.5):
    """{category: {'ap', 'recall_thresholds', 'precision', 'max_recall', 'faces', 'detections'}}.

    ``precision`` is COCO's interpolated precision at its 101 recall thresholds; ``ap`` their mean.
    ``ap`` is NaN for a category without ground truth.
    """
    categories = list(categories)
    if len(samples) != len(predictions):
        raise ValueError('%d samples but %d predictions' % (len(samples), len(predictions)))
    gt = COCO()
    gt.dataset = coco_ground_truth(samples, categories)
    _quiet(gt.createIndex)
    dets = coco_detections(predictions, categories)
    dt = _quiet(gt.loadRes, dets) if dets else COCO()
    if not dets:
        dt.dataset = {'images': gt.dataset['images'], 'annotations': [], 'categories': gt.dataset['categories']}
        _quiet(dt.createIndex)
    ev = COCOeval(gt, dt, 'bbox')
    ev.params.iouThrs = np.array([iou_threshold])
    ev.params.maxDets = [MAX_DETECTIONS]
    ev.params.areaRng = [[0, 1e10]]
    ev.params.areaRngLbl = ['all']
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    out = {}
    for k, name in enumerate(categories):
        precision = ev.eval['precision'][0, :, k, 0, 0]     # [recall thresholds]
        max_recall = float(ev.eval['recall'][0, k, 0, 0])
        cat_id = k + 1
        faces = sum(1 for a in gt.dataset['annotations'] if a['category_id'] == cat_id and not a['iscrowd'])
        has_gt = faces > 0
        out[name] = {'ap': float(precision.mean()) if has_gt else float('nan'),
                     'recall_thresholds': ev.params.recThrs.tolist(),
                     'precision': precision.tolist() if has_gt else [],
                     'max_recall': max_recall if has_gt else float('nan'),
                     'faces': faces,
                     'detections': sum(1 for d in dets if d['category_id'] == cat_id)}
    return out
