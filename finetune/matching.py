"""Anchor matching and box encoding for detector training (numpy, per image)."""
import numpy as np

IGNORE, NEGATIVE, POSITIVE = -1, 0, 1


def pairwise_iou(a, b):
    """IoU [len(a), len(b)] of xyxy boxes."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def encode_boxes(gt, priors, variances):
    """Inverse of ``maskhub.inference.postprocess.decode_boxes``: xyxy gt per prior -> (dx, dy, dw, dh)."""
    v = np.asarray(variances, np.float32)
    pw, ph = priors[:, 2] - priors[:, 0], priors[:, 3] - priors[:, 1]
    pcx, pcy = priors[:, 0] + pw / 2, priors[:, 1] + ph / 2
    gw, gh = np.maximum(gt[:, 2] - gt[:, 0], 1e-6), np.maximum(gt[:, 3] - gt[:, 1], 1e-6)
    gcx, gcy = gt[:, 0] + gw / 2, gt[:, 1] + gh / 2
    return np.stack([(gcx - pcx) / pw / v[0], (gcy - pcy) / ph / v[1],
                     np.log(gw / pw) / v[2], np.log(gh / ph) / v[3]], axis=1).astype(np.float32)


def match_priors(priors, gt_boxes, gt_ignore, variances, pos_iou=0.35, neg_iou=0.35, ignore_iou=0.35):
    """Prior labels [P] (IGNORE / NEGATIVE / POSITIVE) and loc targets [P, 4].

    priors, gt_boxes: normalised xyxy. A prior is positive when its best IoU with a kept face is >= pos_iou;
    every kept face also gets its best prior (so tiny faces, which overlap no prior well, still get one).
    Priors overlapping an ignored face by >= ignore_iou, and priors between neg_iou and pos_iou, are
    excluded from the loss.
    """
    P = len(priors)
    labels = np.full(P, NEGATIVE, np.int64)
    targets = np.zeros((P, 4), np.float32)
    if len(gt_boxes) == 0:
        return labels, targets
    iou = pairwise_iou(priors, gt_boxes)
    ignored = np.asarray(gt_ignore, bool)
    if ignored.any():
        labels[iou[:, ignored].max(1) >= ignore_iou] = IGNORE
    kept = np.flatnonzero(~ignored)
    if kept.size == 0:
        return labels, targets
    kept_iou = iou[:, kept]
    best_gt = kept_iou.argmax(1)
    best_iou = kept_iou[np.arange(P), best_gt]
    labels[(best_iou >= neg_iou) & (best_iou < pos_iou)] = IGNORE
    positive = best_iou >= pos_iou
    # each face claims its best prior, overriding that prior's own best face
    best_prior = kept_iou.argmax(0)
    has_overlap = kept_iou[best_prior, np.arange(kept.size)] > 0
    best_gt[best_prior[has_overlap]] = np.arange(kept.size)[has_overlap]
    positive[best_prior[has_overlap]] = True
    labels[positive] = POSITIVE
    targets[positive] = encode_boxes(gt_boxes[kept[best_gt[positive]]], priors[positive], variances)
    return labels, targets
