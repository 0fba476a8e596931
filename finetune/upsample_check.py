"""Is small-face recall limited by the weights or by the network's geometry?

``python -m finetune.upsample_check --model mobile`` runs a detector on WIDER val twice: on each image
at ``--shrink`` (the module default, 0.5), and on the same shrunken pixels upsampled by ``--upsample``
before the network. Upsampling adds no detail, so any gain comes from the faces meeting the stride-8
grid and 8 px anchors at a larger size: the test behind the server design (``reports/training.md``).
"""
import json

import cv2
import numpy as np
from tqdm import tqdm

from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import SCORE_FLOOR, compute_metrics
from maskhub.evaluation.operating_point import operating_point
from maskhub.evaluation.predictions import Detections
from maskhub.inference.preprocess import detector_input_size
from maskhub.inference.loader import load_detector
from maskhub.io.images import read_image


def detect_shrunk(detector, image, shrink, upsample):
    """Boxes (in ``image`` pixels) and scores of the detector on ``image`` at ``shrink``, with the
    shrunken pixels first upsampled by ``upsample`` (so the network sees only the shrunken detail)."""
    if upsample == 1.0:
        return detector.detect(image, shrink, SCORE_FLOOR)
    h, w = image.shape[:2]
    small_h, small_w = detector_input_size((h, w), shrink)
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_LINEAR)
    up = cv2.resize(small, (round(small_w * upsample), round(small_h * upsample)), interpolation=cv2.INTER_LINEAR)
    # boxes come back as whole pixels of the network input: at upsample x shrink ~ 1 that input is
    # about the original size, so rounding does not shift the boxes of 4-8 px faces
    boxes, scores = detector.detect(up, 1.0, SCORE_FLOOR)
    return boxes.astype(np.float32) * np.float32([w / up.shape[1], h / up.shape[0]] * 2), scores


def summary(samples, predictions, recall_scores=(0.05, 0.5)):
    metrics = compute_metrics(samples, predictions)
    out = {'face_ap': round(100 * metrics['ap']['face']['ap'], 1)}
    for score in recall_scores:
        op = operating_point(samples, predictions, score)
        out['recall_at_%g' % score] = {k: round(100 * v['recall'], 1) for k, v in op['recall'].items()}
        out['precision_at_%g' % score] = round(100 * op['precision'], 1)
    return out


def add_arguments(parser):
    parser.add_argument('--model', default='mobile', help="model name or directory")
    parser.add_argument('--data', default='dev:wider-val',
                        help='labelled images: voc:DIR | wider:GT_FILE[:IMAGES] | yaml:FILE | dev:NAME')
    parser.add_argument('--shrink', type=float, default=None,
                        help="detector input scale of both runs (default: the model config's)")
    parser.add_argument('--upsample', type=float, default=2.0, help='upsampling of the shrunken pixels')
    parser.add_argument('--max-images', type=int, help='at most N images, spread over the set')
    parser.add_argument('--threads', type=int, help='CPU threads (default: all cores)')


def run(args):
    samples = spread_subset(load_samples(args.data), args.max_images)
    detector = load_detector(args.model, threads=args.threads)
    args.shrink = detector.config.options(args.shrink)[0]
    runs = {'shrink %g' % args.shrink: 1.0, 'shrink %g, upsampled %gx' % (args.shrink, args.upsample): args.upsample}
    results = {}
    for name, upsample in runs.items():
        predictions = []
        for sample in tqdm(samples, desc=name):
            loaded = read_image(sample.path)
            boxes, scores = detect_shrunk(detector, loaded.image, args.shrink, upsample)
            predictions.append(Detections(boxes * np.float32(loaded.scale), scores))
        results[name] = summary(samples, predictions)
    print(json.dumps({'model': args.model, 'data': args.data, 'images': len(samples), 'results': results}, indent=2))
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('python -m finetune.upsample_check', __doc__.split('\n\n')[0], add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
