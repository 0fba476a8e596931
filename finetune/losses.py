"""Multibox loss: softmax face/background with 3:1 hard-negative mining + smooth-L1 on encoded boxes."""
import numpy as np
import paddle
import paddle.nn.functional as F

from finetune.matching import NEGATIVE, POSITIVE


def hard_negative_mask(background_loss, labels, neg_pos_ratio=3, min_negatives=16):
    """bool [N, P]: per image the ``neg_pos_ratio`` × positives highest-loss negatives."""
    num_pos = (labels == POSITIVE).sum(1)
    loss = np.where(labels == NEGATIVE, background_loss, -np.inf)
    mask = np.zeros(labels.shape, bool)
    for i in range(labels.shape[0]):
        k = min(max(neg_pos_ratio * int(num_pos[i]), min_negatives), int((labels[i] == NEGATIVE).sum()))
        if k:
            mask[i, np.argpartition(-loss[i], k - 1)[:k]] = True
    return mask


def multibox_loss(loc, conf, labels, loc_targets, neg_pos_ratio=3):
    """loc [N, P, 4], conf logits [N, P, 2] (paddle); labels [N, P], loc_targets [N, P, 4] (numpy).

    Returns (total, classification, localisation), each a scalar tensor, normalised by the number of positives.
    """
    labels_t = paddle.to_tensor(np.maximum(labels, 0))
    ce = F.cross_entropy(conf, labels_t.unsqueeze(-1), reduction='none').squeeze(-1)
    negatives = hard_negative_mask(ce.numpy(), labels, neg_pos_ratio)
    positives = labels == POSITIVE
    num_pos = max(int(positives.sum()), 1)
    selected = paddle.to_tensor((positives | negatives).astype(np.float32))
    cls_loss = (ce * selected).sum() / num_pos
    pos_index = np.flatnonzero(positives.reshape(-1))
    if pos_index.size:
        pred = paddle.gather(loc.reshape([-1, 4]), paddle.to_tensor(pos_index))
        target = paddle.to_tensor(loc_targets.reshape(-1, 4)[pos_index])
        loc_loss = F.smooth_l1_loss(pred, target, reduction='sum') / num_pos
    else:
        loc_loss = (loc * 0).sum()
    return cls_loss + loc_loss, cls_loss, loc_loss
