"""Detector post-processing in vectorised numpy: box decoding, greedy NMS, face boxes, box voting.

Matches Paddle's ``box_coder`` (decode_center_size, normalised) and ``multiclass_nms2`` (one
foreground class, strict score threshold, IoU without +1) as the official graph runs them.
"""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NMSParams:
    score_threshold: float = 0.01
    nms_top_k: int = 5000
    iou_threshold: float = 0.3
    keep_top_k: int = 750


def decode_boxes(loc, priors, variances):
    """loc [P, 4] (dx, dy, dw, dh), priors [P, 4] xyxy normalised -> boxes [P, 4] xyxy, float32."""
    v = np.asarray(variances, np.float32)
    pw = priors[:, 2] - priors[:, 0]
    ph = priors[:, 3] - priors[:, 1]
    pcx = priors[:, 0] + pw / 2
    pcy = priors[:, 1] + ph / 2
    cx = v[0] * loc[:, 0] * pw + pcx
    cy = v[1] * loc[:, 1] * ph + pcy
    bw = np.exp(v[2] * loc[:, 2]) * pw
    bh = np.exp(v[3] * loc[:, 3]) * ph
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def box_area(boxes):
    return np.clip(boxes[..., 2] - boxes[..., 0], 0, None) * np.clip(boxes[..., 3] - boxes[..., 1], 0, None)


def iou_one_to_many(box, boxes):
    ix1 = np.maximum(box[0], boxes[:, 0])
    iy1 = np.maximum(box[1], boxes[:, 1])
    ix2 = np.minimum(box[2], boxes[:, 2])
    iy2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    union = box_area(box) + box_area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes, scores, params=NMSParams()):
    """Greedy NMS; returns indices into ``boxes`` in descending score order."""
    candidates = np.flatnonzero(scores > params.score_threshold)
    order = candidates[np.argsort(-scores[candidates], kind='stable')][:params.nms_top_k]
    keep = []
    while order.size and len(keep) < params.keep_top_k:
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[best], boxes[rest]) <= params.iou_threshold]
    return np.asarray(keep, np.int64)


def detect_faces(loc, conf_softmax, priors, variances, params=NMSParams()):
    """One image's heads -> (detections [N, 6] = label, score, x1, y1, x2, y2 normalised, prior index [N])."""
    boxes = decode_boxes(loc, priors, variances)
    scores = conf_softmax[:, 1]
    keep = nms(boxes, scores, params)
    det = np.concatenate([np.ones((keep.size, 1), np.float32), scores[keep, None], boxes[keep]], axis=1)
    return det.astype(np.float32), keep


def to_pixel_boxes(det_boxes, input_hw, shrink, image_hw):
    """Normalised boxes -> integer (left, top, right, bottom) in the original image, as the module does.

    The module scales by the resized size divided by shrink (not the original size) and clamps.
    """
    h, w = input_hw
    H, W = image_hw
    x = det_boxes.astype(np.float64)
    sx, sy = w / shrink, h / shrink
    out = np.stack([np.clip(sx * x[:, 0], 0, W), np.clip(sy * x[:, 1], 0, H),
                    np.clip(sx * x[:, 2], 0, W), np.clip(sy * x[:, 3], 0, H)], axis=1)
    return np.trunc(out).astype(np.int64)


def box_voting(boxes, scores, iou_threshold=0.3):
    """Merge detections from several scales: each cluster of overlapping boxes becomes the
    score-weighted mean box, scored by the best member. boxes in pixels [N, 4], scores [N]."""
    order = np.argsort(-scores, kind='stable')
    boxes, scores = boxes[order].astype(np.float64), scores[order]
    merged_boxes, merged_scores = [], []
    while boxes.shape[0]:
        overlap = iou_one_to_many(boxes[0], boxes) >= iou_threshold
        overlap[0] = True
        weights = scores[overlap][:, None]
        merged_boxes.append((boxes[overlap] * weights).sum(0) / weights.sum())
        merged_scores.append(scores[overlap].max())
        boxes, scores = boxes[~overlap], scores[~overlap]
    if not merged_boxes:
        return np.zeros((0, 4)), np.zeros((0,), np.float32)
    return np.stack(merged_boxes), np.asarray(merged_scores, np.float32)
