"""Detector post-processing in vectorised numpy: box decoding, greedy NMS (optionally with box voting), face
boxes, multi-scale box voting.

Matches Paddle's ``box_coder`` (decode_center_size, normalised) and ``multiclass_nms2`` (one
foreground class, strict score threshold, IoU without +1) as the official graph runs them.
"""
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class NMSParams:
    score_threshold: float = 0.01
    nms_top_k: int = 5000
    iou_threshold: float = 0.3
    keep_top_k: int = 750
    # > 0: each kept box becomes the score-weighted mean of the candidates overlapping it by IoU >= this
    # (itself included), its score unchanged; 0: the kept box as it is (the official graph's NMS)
    box_vote_iou: float = 0.0


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


def face_boxes(loc, conf_softmax, detector_config, input_hw, shrink, image_hw, confs_threshold, mirrored=None):
    """One image's detector heads -> (boxes int [K, 4] in image pixels, scores [K]), by descending score:
    the config's priors (cached per input size), decoding and NMS, faces scoring above ``confs_threshold``.
    ``mirrored``: (loc, conf_softmax) of the horizontally mirrored input (``flip_test``); its boxes, mirrored
    back, are fused with the first pass's (``fuse_two_passes``) before one NMS.

    Greedy NMS keeps boxes in score order and only higher-scoring boxes suppress, so dropping candidates
    at or below ``confs_threshold`` before NMS returns exactly the same faces, much faster. (With box voting
    the kept boxes are voted over the candidates above the threshold, so their coordinates move slightly
    with it.)"""
    from maskhub.models.priors import density_priors
    h, w = input_hw
    nms_params = replace(detector_config.nms, score_threshold=max(detector_config.nms.score_threshold, confs_threshold))
    priors = density_priors(h, w, detector_config.prior_box)
    if mirrored is None:
        det, _ = detect_faces(loc, conf_softmax, priors, detector_config.variances, nms_params)
        return to_pixel_boxes(det[:, 2:], (h, w), shrink, image_hw), det[:, 1]
    # a fused score is the mean of the two passes' scores, so a box under 2 * threshold - 1 in one pass cannot
    # reach the threshold even with a perfect partner: each pass is cut there (at least at the config's floor).
    # At a user's threshold (0.6) this skips most of the two per-pass NMS loops; at an evaluation's it changes nothing.
    # Box voting belongs to the final NMS only: voting each pass as well would average the same boxes twice.
    floor = replace(nms_params, score_threshold=max(detector_config.nms.score_threshold, 2 * confs_threshold - 1),
                    box_vote_iou=0.0)
    det, _ = detect_faces(loc, conf_softmax, priors, detector_config.variances, floor)
    m_det, _ = detect_faces(mirrored[0], mirrored[1], priors, detector_config.variances, floor)
    m_boxes = np.stack([1.0 - m_det[:, 4], m_det[:, 3], 1.0 - m_det[:, 2], m_det[:, 5]], axis=1)
    boxes, scores = fuse_two_passes(det[:, 2:], det[:, 1], m_boxes, m_det[:, 1])
    keep = nms(boxes, scores, nms_params)
    kept_boxes = vote_boxes(boxes, scores, keep, nms_params.box_vote_iou)
    return to_pixel_boxes(kept_boxes, (h, w), shrink, image_hw), scores[keep]


def fuse_two_passes(boxes_a, scores_a, boxes_b, scores_b, match_iou=0.3):
    """Detections of two passes over the same image (e.g. the image and its mirror, boxes in one frame) ->
    (boxes, scores) of both: a box matched in the other pass (best IoU >= ``match_iou``) becomes the
    score-weighted mean of the pair with their mean score; an unmatched one keeps its box at half its score
    (the other pass gave it 0). Faces both passes see rank above those only one sees."""
    out_boxes, out_scores = [], []
    for mine, my_scores, other, other_scores in ((boxes_a, scores_a, boxes_b, scores_b),
                                                 (boxes_b, scores_b, boxes_a, scores_a)):
        if not len(other):
            out_boxes.append(mine)
            out_scores.append(my_scores / 2)
            continue
        iou = pairwise_iou(mine, other)
        best = iou.argmax(1)
        matched = iou[np.arange(len(mine)), best] >= match_iou
        partner = np.where(matched, other_scores[best], 0.0)
        weights = np.stack([my_scores, partner], 1)
        pair = np.stack([mine, other[best]], 1)
        mean_box = (pair * weights[:, :, None]).sum(1) / weights.sum(1, keepdims=True)
        out_boxes.append(np.where(matched[:, None], mean_box, mine))
        out_scores.append((my_scores + partner) / 2)
    if not out_boxes:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    return np.concatenate(out_boxes).astype(np.float32), np.concatenate(out_scores).astype(np.float32)


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


def pairwise_iou(boxes_a, boxes_b):
    """IoU matrix [A, B] of two box sets (``iou_one_to_many`` for every box of ``boxes_a`` at once)."""
    lt = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    rb = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    union = box_area(boxes_a)[:, None] + box_area(boxes_b)[None, :] - inter
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


def vote_boxes(boxes, scores, keep, vote_iou):
    """The kept boxes ``boxes[keep]``; with ``vote_iou`` > 0 each one replaced by the score-weighted mean of all
    ``boxes`` overlapping it by IoU >= ``vote_iou`` (NMS with box voting: the suppressed near-duplicates refine
    the box they lost to instead of being thrown away)."""
    kept = boxes[keep]
    if vote_iou <= 0 or not len(keep):
        return kept
    weights = (pairwise_iou(kept, boxes) >= vote_iou) * scores[None, :].astype(np.float64)
    return ((weights @ boxes) / weights.sum(1, keepdims=True)).astype(boxes.dtype)


def detect_faces(loc, conf_softmax, priors, variances, params=NMSParams()):
    """One image's heads -> (detections [N, 6] = label, score, x1, y1, x2, y2 normalised, prior index [N]).

    Only the priors scoring above ``params.score_threshold`` are decoded (the others can never be kept),
    which is what makes a high threshold cheap; the result equals decoding all priors first. With
    ``params.box_vote_iou`` the kept boxes are voted over those candidates (``vote_boxes``)."""
    scores = conf_softmax[:, 1]
    candidates = np.flatnonzero(scores > params.score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind='stable')][:params.nms_top_k]
    boxes = decode_boxes(loc[candidates], priors[candidates], variances)
    local = nms(boxes, scores[candidates], NMSParams(-np.inf, params.nms_top_k, params.iou_threshold,
                                                     params.keep_top_k))
    keep = candidates[local]
    kept_boxes = vote_boxes(boxes, scores[candidates], local, params.box_vote_iou)
    det = np.concatenate([np.ones((keep.size, 1), np.float32), scores[keep, None], kept_boxes], axis=1)
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


def box_iou_plus_one(box, boxes):
    """IoU with the +1 pixel convention of the official module's box voting (integer pixel boxes)."""
    w = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + 1)
    h = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + 1)
    inter = w * h
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    return inter / ((box[2] - box[0] + 1) * (box[3] - box[1] + 1) + area - inter)


def box_voting(boxes, scores, iou_threshold=0.3, keep_top_k=750):
    """Merge the faces of several scales as the official module's multi-scale mode does.

    Boxes by descending score; each box gathers the remaining boxes overlapping it by IoU >= iou_threshold
    (+1 convention) into a cluster, which becomes the score-weighted mean box with the best member's score.
    A cluster of one box is dropped (a face seen at one scale only), except the last cluster formed, which
    is kept even when alone: that is what Baidu's ``bbox_vote`` does. At most ``keep_top_k`` clusters.
    boxes in pixels [N, 4], scores [N] -> (boxes float [M, 4], scores [M]).
    """
    order = np.argsort(-np.asarray(scores), kind='stable')
    boxes, scores = np.asarray(boxes, np.float64)[order], np.asarray(scores, np.float64)[order]
    merged_boxes, merged_scores = [], []
    while boxes.shape[0]:
        members = box_iou_plus_one(boxes[0], boxes) >= iou_threshold
        cluster_boxes, cluster_scores = boxes[members], scores[members]
        boxes, scores = boxes[~members], scores[~members]
        if cluster_boxes.shape[0] <= 1:
            if boxes.shape[0] == 0:
                merged_boxes.append(cluster_boxes[0])
                merged_scores.append(cluster_scores[0])
            continue
        weights = cluster_scores[:, None]
        merged_boxes.append((cluster_boxes * weights).sum(0) / weights.sum())
        merged_scores.append(cluster_scores.max())
    if not merged_boxes:
        return np.zeros((0, 4)), np.zeros((0,), np.float32)
    return np.stack(merged_boxes)[:keep_top_k], np.asarray(merged_scores, np.float32)[:keep_top_k]
