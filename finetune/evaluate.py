"""Per-epoch validation: val loss and face recall by face width (IoU 0.5, score 0.5, shrink 1.0)."""
import numpy as np
import paddle
import paddle.nn.functional as F

from finetune.datasets import prior_targets, read_image
from finetune.losses import multibox_loss
from finetune.matching import pairwise_iou
from maskhub.inference.pipeline import MaskDetector

WIDTH_BINS = ((0, 16), (16, 32), (32, 64), (64, float('inf')))
BIN_NAMES = ('<16', '16-32', '32-64', '>=64')


def matched_faces(gt_boxes, det_boxes, det_scores, iou_threshold=0.5):
    """bool [G]: gt faces matched one-to-one by detections taken in descending score order."""
    hit = np.zeros(len(gt_boxes), bool)
    if len(gt_boxes) == 0 or len(det_boxes) == 0:
        return hit
    iou = pairwise_iou(det_boxes[np.argsort(-det_scores)], gt_boxes)
    for row in iou:
        row = np.where(hit, -1.0, row)
        best = int(row.argmax())
        if row[best] >= iou_threshold:
            hit[best] = True
    return hit


class RecallByWidth:
    def __init__(self):
        self.hits = np.zeros(len(WIDTH_BINS), np.int64)
        self.totals = np.zeros(len(WIDTH_BINS), np.int64)

    def add(self, gt_boxes, gt_ignore, det_boxes, det_scores):
        keep = ~np.asarray(gt_ignore, bool)
        gt = gt_boxes[keep]
        hit = matched_faces(gt, det_boxes, det_scores)
        widths = gt[:, 2] - gt[:, 0]
        for b, (lo, hi) in enumerate(WIDTH_BINS):
            in_bin = (widths >= lo) & (widths < hi)
            self.hits[b] += int(hit[in_bin].sum())
            self.totals[b] += int(in_bin.sum())

    def as_dict(self):
        out = {name: (float(h / t) if t else None) for name, h, t in zip(BIN_NAMES, self.hits, self.totals)}
        out['all'] = float(self.hits.sum() / max(self.totals.sum(), 1))
        out['faces'] = {name: int(t) for name, t in zip(BIN_NAMES, self.totals)}
        return out


@paddle.no_grad()
def evaluate_detector(detector, samples, model_config, shrink=1.0, score_threshold=0.5):
    """{'val_loss', 'val_cls_loss', 'val_loc_loss', 'recall': {...}} over ``samples`` (one image at a time).

    The image goes through the pipeline's own ``preprocess`` and ``postprocess`` stages (as ``maskhub predict``
    at this shrink); only the network call is the training model's, so the loss can be taken on its heads."""
    detector.eval()
    stages = MaskDetector.from_runners(model_config, detector=None, classifier=None, reason='training validation')
    recall, losses = RecallByWidth(), []
    for sample in samples:
        image = read_image(sample.path)
        prep = stages.preprocess(image, shrink)
        (h, w), (H, W) = prep.input_hw, prep.image_hw
        labels, targets = prior_targets(sample.boxes * np.float32([w / W, h / H, w / W, h / H]), sample.ignore,
                                        (h, w), model_config.detector)
        loc, conf, _ = detector(paddle.to_tensor(prep.tensor))
        total, cls_loss, loc_loss = multibox_loss(loc, conf, labels[None], targets[None])
        losses.append((float(total), float(cls_loss), float(loc_loss)))
        boxes, scores = stages.postprocess((loc.numpy(), F.softmax(conf, axis=-1).numpy()), prep, score_threshold)
        recall.add(sample.boxes, sample.ignore, boxes.astype(np.float32), scores)
    detector.train()
    mean = np.mean(losses, axis=0) if losses else [float('nan')] * 3
    return {'val_loss': float(mean[0]), 'val_cls_loss': float(mean[1]), 'val_loc_loss': float(mean[2]),
            'recall': recall.as_dict()}


@paddle.no_grad()
def evaluate_classifier(classifier, cache, batch_size=64):
    """{'val_loss', 'accuracy', 'balanced_accuracy', 'per_class_accuracy'} over every cached face."""
    from finetune.datasets import classifier_batch
    classifier.eval()
    preds, total_loss = [], 0.0
    for start in range(0, len(cache), batch_size):
        idx = np.arange(start, min(start + batch_size, len(cache)))
        x, y = classifier_batch(cache, idx)
        logits = classifier(paddle.to_tensor(x))
        total_loss += float(F.cross_entropy(logits, paddle.to_tensor(y[:, None]), reduction='sum'))
        preds.append(logits.numpy().argmax(1))
    classifier.train()
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    per_class = [float((pred[cache.labels == c] == c).mean()) for c in np.unique(cache.labels)]
    return {'val_loss': total_loss / max(len(cache), 1), 'accuracy': float((pred == cache.labels).mean()),
            'balanced_accuracy': float(np.mean(per_class)), 'per_class_accuracy': per_class}


def add_arguments(parser):
    parser.add_argument('--config', required=True, help='a finetune/configs/*.yml')
    parser.add_argument('--weights', required=True, help='detector or classifier .pdparams')
    parser.add_argument('--val-data', metavar='SPEC', help="validation images instead of the config's data.val "
                        "(voc:DIR | wider:GT_FILE[:IMAGES] | yaml:FILE | dev:NAME)")


def run(args):
    import json

    from finetune.train import TASKS, load_config, load_matching_weights
    from maskhub.config import load_builtin_config
    from maskhub.data.paths import REPO_ROOT
    cfg = load_config(args.config)
    if args.val_data:
        cfg = dict(cfg, data=dict(cfg.get('data') or {}, train=[args.val_data], val=[args.val_data]))
    task = TASKS[cfg['task']](cfg, load_builtin_config(cfg['model_config']))
    load_matching_weights(task.model, REPO_ROOT / args.weights)
    print(json.dumps(task.evaluate(task.model)))
    return 0


def main(argv=None):
    """Evaluate given weights exactly as the per-epoch validation of a training config does."""
    from maskhub.cli import standalone
    return standalone('python -m finetune.evaluate', main.__doc__, add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
