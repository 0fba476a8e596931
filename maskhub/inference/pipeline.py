"""The public prediction API: ``MaskDetector`` = face detector + mask classifier.

    from maskhub import MaskDetector
    detector = MaskDetector('mobile')                       # or 'server', 'mobile_crowd', a model dir
    results = detector.face_detection(paths=['a.jpg'])      # the official module's structure
    table = detector.predict_dataframe(paths=['a.jpg'])     # pandas, one row per face
"""
import dataclasses
import logging
import threading
import time
from pathlib import Path

import numpy as np

from maskhub.config import ModelConfig
from maskhub.inference import postprocess, preprocess
from maskhub.inference.predictor import DygraphRunner, PaddleInferenceRunner
from maskhub.inference.results import Face, ImageResult
from maskhub.models.priors import density_priors

log = logging.getLogger(__name__)

CLASSIFIER_CHUNK = 64


class MaskDetector:
    """Detect faces and classify MASK / NO MASK.

    Args:
        model: registered name ('mobile', 'server', 'mobile_crowd') or a model directory.
        backend: 'inference' (Paddle Inference, default) or 'dygraph' (eager Paddle, for checks).
        threads: CPU threads for the runners (default: MASKHUB_THREADS or all cores).
        use_gpu: run Paddle Inference on GPU 0.
    """

    def __init__(self, model='mobile', backend='inference', threads=None, use_gpu=False):
        from maskhub.inference.registry import resolve_model_dir
        self.model_dir = resolve_model_dir(model)
        self.config = ModelConfig.from_yaml(self.model_dir / 'model.yml')
        self.name = model if isinstance(model, str) and '/' not in model else self.config.name
        self.backend = backend
        self._lock = threading.Lock()
        if backend == 'inference':
            self.detector = PaddleInferenceRunner(self.model_dir / 'detector', threads=threads, use_gpu=use_gpu)
            self.classifier = PaddleInferenceRunner(self.model_dir / 'classifier', threads=threads, use_gpu=use_gpu)
        elif backend == 'dygraph':
            from maskhub.inference.export import ClassifierForInference, DetectorForInference, load_dygraph
            _, det, cls = load_dygraph(self.model_dir)
            self.detector = DygraphRunner(DetectorForInference(det), threads)
            self.classifier = DygraphRunner(ClassifierForInference(cls), threads)
        else:
            raise ValueError("backend must be 'inference' or 'dygraph', got %r" % backend)
        log.info('loaded model %s from %s (%s)', self.name, self.model_dir, self.detector.description)

    # ---- stages ---------------------------------------------------------------------------------
    def detector_heads(self, detector_input):
        """float32 [N, 3, h, w] -> (loc [N,P,4], conf softmax [N,P,2], landmarks [N,P,10])."""
        with self._lock:
            return self.detector(detector_input)

    def detect(self, image_bgr, shrink, confs_threshold):
        """Faces of one image at one shrink: (boxes int [K,4] in image pixels, scores [K]), by descending score."""
        resized = preprocess.resize_for_detector(image_bgr, shrink)
        x = preprocess.normalize_detector(resized, self.config.detector.mean_bgr, self.config.detector.std)[None]
        loc, conf, _ = self.detector_heads(x)
        h, w = resized.shape[:2]
        priors = density_priors(h, w, self.config.detector.prior_box)
        # Greedy NMS keeps boxes in score order and only higher-scoring boxes suppress, so dropping
        # candidates at or below confs_threshold first returns exactly the same faces, much faster
        nms = self.config.detector.nms
        nms = dataclasses.replace(nms, score_threshold=max(nms.score_threshold, confs_threshold))
        det, _ = postprocess.detect_faces(loc[0], conf[0], priors, self.config.detector.variances, nms)
        boxes = postprocess.to_pixel_boxes(det[:, 2:], (h, w), shrink, image_bgr.shape[:2])
        return boxes, det[:, 1]

    def detect_multi_scale(self, image_bgr, shrink, confs_threshold):
        """Detections at ``shrink`` and at each of the config's multi-scale shrinks, merged by box voting."""
        shrinks = sorted({float(shrink), *self.config.defaults.multi_scale_shrinks})
        all_boxes, all_scores = [], []
        for s in shrinks:
            boxes, scores = self.detect(image_bgr, s, confs_threshold)
            all_boxes.append(boxes)
            all_scores.append(scores)
        boxes, scores = postprocess.box_voting(np.concatenate(all_boxes), np.concatenate(all_scores),
                                               self.config.defaults.vote_iou)
        return np.trunc(boxes).astype(np.int64), scores

    def classify(self, image_bgr, boxes):
        """Mask probabilities [K, num_labels] of the official 1.5x square crops around ``boxes``."""
        cfg = self.config.classifier
        if len(boxes) == 0:
            return np.zeros((0, len(cfg.labels)), np.float32)
        crops = [preprocess.crop_face(image_bgr, b, cfg.input_size, cfg.crop_context) for b in boxes]
        x = preprocess.normalize_classifier(np.stack(crops))
        probs = []
        with self._lock:
            for start in range(0, len(x), CLASSIFIER_CHUNK):
                probs.append(self.classifier(x[start:start + CLASSIFIER_CHUNK])[0])
        return np.concatenate(probs)

    # ---- one image ----------------------------------------------------------------------------------
    def predict_image(self, image_bgr, shrink=None, confs_threshold=None, use_multi_scale=False, path='',
                      coordinate_scale=1.0, frame=None, timestamp_s=None):
        """Run the whole pipeline on a uint8 BGR image.

        ``coordinate_scale`` maps boxes back to the original image when ``image_bgr`` was decoded at
        reduced size (huge images, see ``maskhub.io.images``).
        """
        shrink = self.config.defaults.shrink if shrink is None else float(shrink)
        confs_threshold = self.config.defaults.confs_threshold if confs_threshold is None else float(confs_threshold)
        t0 = time.perf_counter()
        if use_multi_scale:
            boxes, scores = self.detect_multi_scale(image_bgr, shrink, confs_threshold)
        else:
            boxes, scores = self.detect(image_bgr, shrink, confs_threshold)
        t1 = time.perf_counter()
        probs = self.classify(image_bgr, boxes)
        t2 = time.perf_counter()
        labels = self.config.classifier.labels
        mask_index = labels.index('MASK') if 'MASK' in labels else len(labels) - 1
        faces = []
        for box, score, p in zip(boxes, scores, probs):
            k = int(np.argmax(p))
            left, top, right, bottom = (int(round(v * coordinate_scale)) if coordinate_scale != 1.0 else int(v)
                                        for v in box)
            faces.append(Face(labels[k], float(p[k]), left, top, right, bottom, float(score), float(p[mask_index])))
        H, W = image_bgr.shape[:2]
        return ImageResult(path=str(path), faces=faces, image_width=int(round(W * coordinate_scale)),
                           image_height=int(round(H * coordinate_scale)), frame=frame, timestamp_s=timestamp_s,
                           model=self.name, timings_ms={'detect': 1e3 * (t1 - t0), 'classify': 1e3 * (t2 - t1)})

    # ---- the official module's API -------------------------------------------------------------------
    def predict(self, images=None, paths=None, shrink=None, confs_threshold=None, use_multi_scale=False):
        """List of ``ImageResult`` for in-memory BGR ``images`` and/or image ``paths`` (images first).

        An unreadable path raises ``maskhub.io.images.ImageError`` naming it; the batch CLI records
        such errors per item instead.
        """
        from maskhub.io.images import read_image
        results = []
        for i, image in enumerate(images or []):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError('images[%d]: expected uint8 HxWx3 BGR, got %s %s' % (i, image.dtype, image.shape))
            results.append(self.predict_image(image, shrink, confs_threshold, use_multi_scale, path='ndarray_%d' % i))
        for p in paths or []:
            loaded = read_image(p)
            results.append(self.predict_image(loaded.image, shrink, confs_threshold, use_multi_scale, path=str(p),
                                              coordinate_scale=loaded.scale))
        return results

    def face_detection(self, images=None, paths=None, shrink=0.5, confs_threshold=0.6, use_multi_scale=False,
                       batch_size=1, **_ignored):
        """Same arguments and return structure as Baidu's module:
        ``[{'path': ..., 'data': [{'label', 'confidence', 'left', 'top', 'right', 'bottom'}, ...]}, ...]``."""
        return [r.to_hub_dict() for r in self.predict(images, paths, shrink, confs_threshold, use_multi_scale)]

    def predict_dataframe(self, images=None, paths=None, shrink=None, confs_threshold=None, use_multi_scale=False):
        from maskhub.io.tables import results_to_dataframe
        return results_to_dataframe(self.predict(images, paths, shrink, confs_threshold, use_multi_scale))
