"""What a mobile app does with a bundle, in Python: ``model_config.json`` + ``.nb`` files -> faces.

Every parameter comes from ``model_config.json`` (none from maskhub's model config), and the steps are
maskhub's own pre/post-processing functions, so verification against Paddle Inference checks the JSON,
the ``.nb`` files and the Paddle-Lite runtime together.
"""
from pathlib import Path

import numpy as np

from lite_export.app_config import read_app_config
from maskhub.inference import postprocess, preprocess
from maskhub.inference.lite_runner import PaddleLiteRunner
from maskhub.models.priors import density_priors


class LiteAppPipeline:
    """Detector + classifier ``.nb`` of one bundle variant ('x86', or 'int8_x86' when present)."""

    def __init__(self, bundle_dir, variant='x86'):
        self.bundle_dir = Path(bundle_dir)
        self.app_config = read_app_config(self.bundle_dir)
        files = self.app_config['files']
        if variant not in files:
            raise KeyError('bundle %s has no %r files (has: %s)' % (bundle_dir, variant, sorted(files)))
        self.detector = PaddleLiteRunner(self.bundle_dir / files[variant]['detector'])
        self.classifier = PaddleLiteRunner(self.bundle_dir / files[variant]['classifier'], batch_size=1)
        det = self.app_config['detector']
        self.mean_bgr = det['input']['normalisation']['mean_bgr']
        self.std = det['input']['normalisation']['std']
        self.prior_levels = [(level['stride'], tuple(level['sizes'])) for level in det['priors']['levels']]
        self.variances = det['decode']['variances']
        nms = det['nms']
        self.nms = postprocess.NMSParams(score_threshold=nms['score_threshold'], nms_top_k=nms['nms_top_k'],
                                         iou_threshold=nms['iou_threshold'], keep_top_k=nms['keep_top_k'])
        cls = self.app_config['classifier']
        self.crop_size, self.crop_context = cls['crop']['size'], cls['crop']['context']
        self.labels = cls['labels']
        self.defaults = self.app_config['defaults']

    def detector_heads(self, image_bgr, shrink):
        """(resized h, w), [loc, conf, landmarks] of one image."""
        resized = preprocess.resize_for_detector(image_bgr, shrink)
        x = preprocess.normalize_detector(resized, self.mean_bgr, self.std)[None]
        return resized.shape[:2], self.detector(x)

    def detect(self, image_bgr, shrink, confs_threshold):
        (h, w), (loc, conf, _) = self.detector_heads(image_bgr, shrink)
        priors = density_priors(h, w, self.prior_levels)
        det, _ = postprocess.detect_faces(loc[0], conf[0], priors, self.variances, self.nms)
        det = det[det[:, 1] > confs_threshold]
        return postprocess.to_pixel_boxes(det[:, 2:], (h, w), shrink, image_bgr.shape[:2]), det[:, 1]

    def classify(self, image_bgr, boxes):
        if len(boxes) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        crops = np.stack([preprocess.crop_face(image_bgr, b, self.crop_size, self.crop_context) for b in boxes])
        return self.classifier(preprocess.normalize_classifier(crops))[0]

    def predict_image(self, image_bgr, shrink=None, confs_threshold=None):
        """Faces as dicts: label, confidence, left, top, right, bottom, face_score."""
        shrink = self.defaults['shrink'] if shrink is None else shrink
        confs_threshold = self.defaults['confs_threshold'] if confs_threshold is None else confs_threshold
        boxes, scores = self.detect(image_bgr, shrink, confs_threshold)
        probs = self.classify(image_bgr, boxes)
        faces = []
        for box, score, p in zip(boxes, scores, probs):
            k = int(np.argmax(p))
            faces.append({'label': self.labels[k], 'confidence': float(p[k]), 'left': int(box[0]),
                          'top': int(box[1]), 'right': int(box[2]), 'bottom': int(box[3]),
                          'face_score': float(score)})
        return faces
