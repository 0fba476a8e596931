"""Greedy one-to-one matching of detections to ground truth, with COCO's rules.

Detections are taken by descending score; each takes the unmatched regular face of highest IoU
(at least ``iou_threshold``). A detection with no such face but lying inside an ignore region
(intersection over the detection's own area, as COCO treats ``iscrowd``) is ignored: neither a
hit nor a false positive. Ignore regions can absorb any number of detections.
"""
import numpy as np


def _intersection(a, b):
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def _area(boxes):
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def box_iou(a, b):
    """IoU [len(a), len(b)] of xyxy boxes (no +1, as pycocotools)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    inter = _intersection(a, b)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_iof(dets, regions):
    """Intersection over the detection's area [len(dets), len(regions)]."""
    dets, regions = np.asarray(dets, np.float64).reshape(-1, 4), np.asarray(regions, np.float64).reshape(-1, 4)
    return _intersection(dets, regions) / np.maximum(_area(dets)[:, None], 1e-12)


def match_detections(gt_boxes, gt_ignore, det_boxes, det_scores, iou_threshold=0.5):
    """-> (gt_hit bool [G], det_gt int [D] index of the matched face or -1, det_ignored bool [D]).

    ``gt_hit`` is always False for ignore regions.
    """
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    gt_ignore = np.asarray(gt_ignore, bool).reshape(-1)
    det_boxes = np.asarray(det_boxes, np.float32).reshape(-1, 4)
    gt_hit = np.zeros(len(gt_boxes), bool)
    det_gt = np.full(len(det_boxes), -1, np.int64)
    det_ignored = np.zeros(len(det_boxes), bool)
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return gt_hit, det_gt, det_ignored
    regular = np.flatnonzero(~gt_ignore)
    iou = box_iou(det_boxes, gt_boxes[regular])
    iof = box_iof(det_boxes, gt_boxes[gt_ignore])
    for d in np.argsort(-np.asarray(det_scores), kind='stable'):
        row = np.where(gt_hit[regular], -1.0, iou[d])
        if len(row) and row.max() >= iou_threshold:
            g = regular[int(row.argmax())]
            gt_hit[g] = True
            det_gt[d] = g
        elif iof.shape[1] and iof[d].max() >= iou_threshold:
            det_ignored[d] = True
    return gt_hit, det_gt, det_ignored
