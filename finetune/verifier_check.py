"""Feasibility check (2026-12-08, not part of any shipped model): does a tiny crop verifier rescore mobile_crowd's
candidates better than its own scores?

``finetune.miss_check`` showed that mobile_crowd places boxes on most small faces but scores many of them low. This
trains an MTCNN-R-Net-sized CNN (24x24 crop of each candidate box widened 1.3x, three 3x3 convs, the detector's
logit as an extra input; about 0.4 MMAC per candidate) on mobile_crowd's candidates on WIDER train (IoU >= 0.5 with
a face: 1, < 0.3: 0, the rest and those on ignore regions left out) and prints the WIDER val face AP with the
verifier's scores and with their geometric mean with the detector's, after each epoch. Inputs: the predictions of
``maskhub evaluate --model mobile_crowd --data dev:wider-train --shrinks 0.5 --out DIR`` (``DIR/shrink_0.5/predictions.json``)
and those of the same model on wider-val (``maskhub report``'s cache file or another evaluate run).

    python -m finetune.verifier_check --train-predictions P1 --val-predictions P2 [--epochs 8]
"""
import argparse
import types

import cv2
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from finetune.datasets import read_image
from finetune.miss_check import read_detections
from maskhub.evaluation.coco import average_precision
from maskhub.evaluation.datasets import load_samples
from maskhub.evaluation.matching import box_iof, box_iou

CROP = 24
CONTEXT = 1.3


def candidate_crops(image_path, boxes):
    """[N, 3, CROP, CROP] float crops, each a square around its box widened by CONTEXT (edges replicated)."""
    image = read_image(image_path)
    crops = np.zeros((len(boxes), 3, CROP, CROP), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        side = max(x2 - x1, y2 - y1) * CONTEXT
        scale = CROP / side
        affine = np.array([[scale, 0, CROP / 2 - scale * (x1 + x2) / 2],
                           [0, scale, CROP / 2 - scale * (y1 + y2) / 2]], np.float32)
        crop = cv2.warpAffine(image, affine, (CROP, CROP), borderMode=cv2.BORDER_REPLICATE,
                              flags=cv2.INTER_AREA if side > CROP else cv2.INTER_LINEAR)
        crops[i] = (crop.transpose(2, 0, 1).astype(np.float32) - 127.5) / 128.0
    return crops


def candidate_labels(sample, boxes):
    """1 for a candidate on a face (IoU >= 0.5), 0 for background (IoU < 0.3 and not on an ignore region), -1 else."""
    gt = np.asarray(sample.boxes, np.float32).reshape(-1, 4)
    ignore = np.asarray(sample.ignore, bool)
    faces = gt[~ignore]
    best = box_iou(boxes, faces).max(1) if len(faces) else np.zeros(len(boxes))
    labels = np.full(len(boxes), -1, np.int64)
    labels[best >= 0.5], labels[best < 0.3] = 1, 0
    if ignore.any():
        labels[(box_iof(boxes, gt[ignore]).max(1) > 0.5) & (best < 0.5)] = -1
    return labels


def candidates(samples, detections):
    """Crops, detector scores and labels of every candidate, in image order."""
    crops, scores, labels = [], [], []
    for sample, det in zip(samples, detections):
        boxes = np.asarray(det['boxes'], np.float32).reshape(-1, 4)
        crops.append(candidate_crops(sample.path, boxes))
        scores.append(np.asarray(det['scores'], np.float32))
        labels.append(candidate_labels(sample, boxes))
    return np.concatenate(crops), np.concatenate(scores), np.concatenate(labels)


class CropVerifier(nn.Layer):
    """Face / background logit of a 24x24 crop, given the detector's logit for it as well."""

    def __init__(self, channels=(16, 32, 48)):
        super().__init__()
        self.conv1 = nn.Conv2D(3, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2D(channels[0], channels[1], 3, padding=1)
        self.conv3 = nn.Conv2D(channels[1], channels[2], 3, padding=1)
        self.out = nn.Linear(channels[2] + 1, 1)

    def forward(self, crops, detector_scores):
        x = F.max_pool2d(F.relu(self.conv1(crops)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x)).mean(axis=[2, 3])
        p = detector_scores.clip(1e-4, 1 - 1e-4)
        return self.out(paddle.concat([x, paddle.log(p / (1 - p)).unsqueeze(1)], 1)).squeeze(1)


def face_ap(samples, detections, scores):
    """WIDER face AP (percent) of ``detections`` with their scores replaced by ``scores`` (image order)."""
    preds, start = [], 0
    for det in detections:
        n = len(det['scores'])
        preds.append(types.SimpleNamespace(boxes=det['boxes'], scores=[float(s) for s in scores[start:start + n]]))
        start += n
    return average_precision(samples, preds)['face']['ap'] * 100


def verifier_scores(net, crops, detector_scores, batch=2048):
    net.eval()
    with paddle.no_grad():
        return np.concatenate([F.sigmoid(net(paddle.to_tensor(crops[k:k + batch]),
                                             paddle.to_tensor(detector_scores[k:k + batch]))).numpy()
                               for k in range(0, len(crops), batch)])


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m finetune.verifier_check', description=__doc__.split('\n')[0])
    parser.add_argument('--train-predictions', required=True)
    parser.add_argument('--val-predictions', required=True)
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--batch-size', type=int, default=256)
    args = parser.parse_args(argv)
    train, val = load_samples('dev:wider-train'), load_samples('dev:wider-val')
    train_crops, train_scores, train_labels = candidates(train, read_detections(args.train_predictions, train))
    keep = train_labels >= 0
    train_crops, train_scores, train_labels = train_crops[keep], train_scores[keep], train_labels[keep]
    val_detections = read_detections(args.val_predictions, val)
    val_crops, val_scores, _ = candidates(val, val_detections)
    print('%d training candidates (%d faces); %d val candidates; val face AP with the detector scores %.2f'
          % (len(train_labels), train_labels.sum(), len(val_scores), face_ap(val, val_detections, val_scores)))
    paddle.seed(0)
    rng = np.random.default_rng(0)
    net = CropVerifier()
    opt = paddle.optimizer.Adam(2e-3, parameters=net.parameters(), weight_decay=1e-4)
    for epoch in range(args.epochs):
        net.train()
        losses = []
        order = rng.permutation(len(train_labels))
        for k in range(0, len(order), args.batch_size):
            idx = order[k:k + args.batch_size]
            crops = train_crops[idx][:, :, :, ::-1].copy() if rng.random() < 0.5 else train_crops[idx]
            logits = net(paddle.to_tensor(crops), paddle.to_tensor(train_scores[idx]))
            loss = F.binary_cross_entropy_with_logits(logits, paddle.to_tensor(train_labels[idx].astype(np.float32)))
            loss.backward()
            opt.step()
            opt.clear_grad()
            losses.append(float(loss))
        rescored = verifier_scores(net, val_crops, val_scores)
        print('epoch %d: train loss %.4f, val face AP verifier %.2f, geometric mean with the detector %.2f'
              % (epoch + 1, np.mean(losses), face_ap(val, val_detections, rescored),
                 face_ap(val, val_detections, np.sqrt(rescored * val_scores))), flush=True)


if __name__ == '__main__':
    main()
