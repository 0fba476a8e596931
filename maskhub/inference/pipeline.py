"""The public prediction API: ``MaskDetector`` = a model config + a detector runner + a classifier runner.

    from maskhub import MaskDetector
    detector = MaskDetector('mobile')                  # or 'server', 'mobile_crowd', a model dir, a bundle
    result = detector('photo.jpg')                     # ImageResult: .faces, .to_df(), .plot(), .save()
    results = detector('photos/')                      # Results (a list): a folder, a list of paths / arrays
    detector.face_detection(paths=['a.jpg'])           # the official module's structure

Every consumer (batch, serving, evaluation, the Lite verification and calibration, the benchmark) runs
the same public stages, so nothing re-assembles the pipeline:

    prep = detector.preprocess(image, shrink)          # resize + normalise -> DetectorInput
    heads = detector.infer(prep.tensor)                # detector network (any runtime) -> loc, conf, landmarks
    boxes, scores = detector.postprocess(heads, prep, confs_threshold)   # priors, decode, NMS, pixel boxes
    probs = detector.classify(image, boxes)            # = infer_crops(preprocess_crops(image, boxes))

The runtime (``backend`` 'auto' | 'paddle' | 'openvino' | 'lite' | 'dygraph', ``precision`` 'fp32' |
'bf16' | 'int8') is chosen by ``maskhub.inference.runtimes``. Defaults and valid ranges of ``shrink`` /
``confs_threshold`` come from the model config only (``ModelConfig.options``); a value outside them is
an ``OptionError`` (a ValueError) naming it.
"""
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from maskhub.config import ModelConfig
from maskhub.inference import postprocess, preprocess
from maskhub.inference.registry import resolve_model_dir
from maskhub.inference.results import Face, ImageResult, Results
from maskhub.inference.runtimes import build_runners

log = logging.getLogger(__name__)

CLASSIFIER_CHUNK = 64
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
BACKEND_ALIASES = {'inference': 'paddle'}       # the name of the Paddle Inference backend before runtimes


@dataclass
class DetectorInput:
    """What ``preprocess`` gives ``infer`` and ``postprocess``: the network input and how it was made."""
    tensor: np.ndarray        # float32 [1, 3, h, w]
    shrink: float
    image_hw: tuple           # (H, W) of the image it came from

    @property
    def input_hw(self):
        return tuple(self.tensor.shape[2:])


class MaskDetector:
    """Detect faces and classify MASK / NO MASK.

    Args:
        model: registered name ('mobile', 'server', 'mobile_crowd'), a model directory, a hub module
            directory or a Paddle-Lite bundle directory.
        backend: 'auto' (default: fastest runtime that passed parity on this CPU), 'paddle', 'openvino',
            'lite' or 'dygraph' (eager Paddle, for checks); see ``maskhub.inference.runtimes``.
        precision: 'fp32', 'bf16', 'int8' or None (the backend's default for this CPU).
        threads: CPU threads for the runners (default: MASKHUB_THREADS or all cores).
        use_gpu: True: Paddle Inference on GPU 0; None (default): on GPU 0 with backend 'auto' when one is
            present (``runtimes.gpu_available``); False: the CPU.
        flags: CPU flags to choose the runtime by (default: this CPU's).
    """

    def __init__(self, model='mobile', backend='auto', precision=None, threads=None, use_gpu=None, flags=None):
        self.model_dir = resolve_model_dir(model)
        self.config = ModelConfig.from_yaml(self.model_dir / 'model.yml')
        self.name = model if isinstance(model, str) and '/' not in model else self.config.name
        backend = BACKEND_ALIASES.get(backend, backend)
        self.detector, self.classifier, self.runtime = build_runners(self.model_dir, backend, precision, threads,
                                                                     use_gpu, flags)
        self.backend, self.precision = self.runtime.backend, self.runtime.precision
        self.use_gpu = self.runtime.reason.startswith('GPU')
        self._lock = threading.Lock()
        log.info('loaded model %s from %s: %s (%s)', self.name, self.model_dir, self.detector.description,
                 self.runtime.reason)

    @classmethod
    def from_runners(cls, config, detector, classifier, name=None, model_dir=None, reason='runners given'):
        """A pipeline over runners built elsewhere (e.g. a Lite app bundle's .nb files, a calibration
        graph), with every stage the same as a loaded model's."""
        from maskhub.inference.runtimes import RuntimeChoice
        self = cls.__new__(cls)
        self.model_dir = Path(model_dir) if model_dir else None
        self.config, self.name = config, name or config.name
        self.detector, self.classifier = detector, classifier
        backend = type(detector).__name__
        self.runtime = RuntimeChoice(backend, getattr(detector, 'precision', 'fp32'), reason)
        self.backend, self.precision = self.runtime.backend, self.runtime.precision
        self._lock = threading.Lock()
        return self

    def __repr__(self):
        return 'MaskDetector(%r, backend=%r, precision=%r)' % (self.name, self.backend, self.precision)

    # ---- stages ---------------------------------------------------------------------------------
    def preprocess(self, image_bgr, shrink=None):
        """uint8 HxWx3 BGR -> ``DetectorInput`` (resized by ``shrink`` x the config's ``input_scale`` and normalised
        with its mean/std)."""
        shrink = self.config.ranges.check_shrink(self.config.defaults.shrink if shrink is None else shrink)
        det = self.config.detector
        return DetectorInput(preprocess.detector_tensor(image_bgr, det.input_shrink(shrink), det.mean_bgr, det.std),
                             shrink, tuple(image_bgr.shape[:2]))

    def infer(self, detector_input):
        """float32 [N, 3, h, w] -> (loc [N,P,4], conf softmax [N,P,2], landmarks [N,P,10]) from the runner; with
        the config's ``flip_test`` followed by (loc, conf) of the mirrored input, which postprocess merges."""
        with self._lock:
            heads = self.detector(detector_input)
            if not self.config.detector.flip_test:
                return heads
            return tuple(heads[:3]) + tuple(self.detector(np.ascontiguousarray(detector_input[:, :, :, ::-1]))[:2])

    def postprocess(self, heads, prep, confs_threshold=None, nms=None):
        """Heads of one image -> (boxes int [K,4] in image pixels, scores [K]), by descending score
        (``postprocess.face_boxes``: cached priors, decoding and NMS of the priors above the threshold).
        ``nms``: ``NMSParams`` in place of the config's (a sweep of NMS settings over the same heads)."""
        if confs_threshold is None:
            confs_threshold = self.config.defaults.confs_threshold
        det = self.config.detector if nms is None else replace(self.config.detector, nms=nms)
        mirrored = (heads[3][0], heads[4][0]) if len(heads) > 3 else None
        return postprocess.face_boxes(heads[0][0], heads[1][0], det, prep.input_hw, det.input_shrink(prep.shrink),
                                      prep.image_hw, confs_threshold, mirrored)

    def detect(self, image_bgr, shrink=None, confs_threshold=None):
        """Faces of one image at one shrink: preprocess -> infer -> postprocess."""
        prep = self.preprocess(image_bgr, shrink)
        return self.postprocess(self.infer(prep.tensor), prep, confs_threshold)

    def detect_multi_scale(self, image_bgr, confs_threshold=None):
        """The official module's multi-scale mode: detections at each of the config's
        ``multi_scale_shrinks`` (0.3, 0.6, 0.9, as Baidu's ``data_feed.reader``; the caller's shrink is
        not used), box-voted (``postprocess.box_voting``), kept at score >= confs_threshold.
        Boxes are float (vote means), as the official module returns them."""
        if confs_threshold is None:
            confs_threshold = self.config.defaults.confs_threshold
        passes = [self.detect(image_bgr, s, confs_threshold) for s in self.config.defaults.multi_scale_shrinks]
        boxes, scores = postprocess.box_voting(np.concatenate([b for b, _ in passes]).reshape(-1, 4),
                                               np.concatenate([s for _, s in passes]), self.config.defaults.vote_iou,
                                               self.config.detector.nms.keep_top_k)
        keep = scores >= confs_threshold
        return boxes[keep], scores[keep]

    def preprocess_crops(self, image_bgr, boxes):
        """The official 1.5x square crops around ``boxes``, batched and normalised -> float32 [K, 3, S, S]."""
        cfg = self.config.classifier
        return preprocess.normalize_classifier(preprocess.crop_faces(image_bgr, boxes, cfg.input_size,
                                                                     cfg.crop_context))

    def infer_crops(self, crops):
        """float32 [K, 3, S, S] -> probabilities [K, num_labels], in chunks of ``CLASSIFIER_CHUNK``."""
        if len(crops) == 0:
            return np.zeros((0, len(self.config.classifier.labels)), np.float32)
        with self._lock:
            return np.concatenate([self.classifier(crops[i:i + CLASSIFIER_CHUNK])[0]
                                   for i in range(0, len(crops), CLASSIFIER_CHUNK)])

    def classify(self, image_bgr, boxes):
        """Mask probabilities [K, num_labels] of the faces ``boxes`` (pixels) of one image."""
        if len(boxes) == 0:
            return self.infer_crops([])
        return self.infer_crops(self.preprocess_crops(image_bgr, boxes))

    def faces(self, boxes, scores, probs, coordinate_scale=1.0):
        """``Face`` list from boxes, detector scores and classifier probabilities."""
        labels = self.config.classifier.labels
        mask_index = labels.index('MASK') if 'MASK' in labels else len(labels) - 1
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
        out = []
        for box, score, p, k in zip(boxes, scores, probs, best):
            left, top, right, bottom = (int(round(v * coordinate_scale)) if coordinate_scale != 1.0 else int(v)
                                        for v in box)
            out.append(Face(labels[k], float(p[k]), left, top, right, bottom, float(score), float(p[mask_index])))
        return out

    # ---- one image ----------------------------------------------------------------------------------
    def predict_image(self, image, shrink=None, confs_threshold=None, use_multi_scale=False, path='',
                      coordinate_scale=1.0, frame=None, timestamp_s=None, prep=None):
        """The whole pipeline on one image: a uint8 HxWx3 BGR array or an image file path.

        ``coordinate_scale`` maps boxes back to the original image when the array was decoded at reduced
        size (huge images, see ``maskhub.io.images``); for a path it is taken from the decoder. ``prep``:
        an already computed ``preprocess`` of this image at ``shrink`` (the batch reader thread makes it).
        """
        if isinstance(image, (str, os.PathLike)):
            from maskhub.io.images import read_image
            loaded = read_image(image)
            path, image, coordinate_scale = path or str(image), loaded.image, loaded.scale
        image = check_image(image, path or 'image')
        shrink, confs_threshold = self.config.options(shrink, confs_threshold)
        t0 = time.perf_counter()
        if use_multi_scale:
            boxes, scores = self.detect_multi_scale(image, confs_threshold)
            t_net = 0.0
        else:
            prep = prep if prep is not None and prep.shrink == shrink else self.preprocess(image, shrink)
            n0 = time.perf_counter()
            heads = self.infer(prep.tensor)
            t_net = time.perf_counter() - n0
            boxes, scores = self.postprocess(heads, prep, confs_threshold)
        t1 = time.perf_counter()
        crops = self.preprocess_crops(image, boxes) if len(boxes) else []
        n1 = time.perf_counter()
        probs = self.infer_crops(crops)
        t2 = time.perf_counter()
        H, W = image.shape[:2]
        return ImageResult(path=str(path), faces=self.faces(boxes, scores, probs, coordinate_scale),
                           image_width=int(round(W * coordinate_scale)), image_height=int(round(H * coordinate_scale)),
                           frame=frame, timestamp_s=timestamp_s, model=self.name,
                           timings_ms={'detect': 1e3 * (t1 - t0), 'classify': 1e3 * (t2 - t1),
                                       'network': 1e3 * (t_net + (t2 - n1))})

    # ---- many images ----------------------------------------------------------------------------------
    def predict_paths(self, paths, shrink=None, confs_threshold=None, use_multi_scale=False, prefetch=2,
                      on_error=None):
        """Yield an ``ImageResult`` per image file, in order, while a reader thread decodes (and resizes +
        normalises) the next ``prefetch`` images, so decoding overlaps the networks.

        An unreadable file raises ``maskhub.io.images.ImageError`` naming it, unless ``on_error`` is given:
        then ``on_error(path, error)`` is called and the other files go on."""
        from maskhub.io.images import ImageError, read_image
        shrink, confs_threshold = self.config.options(shrink, confs_threshold)

        def load(p):
            loaded = read_image(p)
            return loaded, (None if use_multi_scale else self.preprocess(loaded.image, shrink))

        paths = [str(p) for p in paths]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix='maskhub-reader') as pool:
            pending = [pool.submit(load, p) for p in paths[:prefetch]]
            for i, p in enumerate(paths):
                if i + prefetch < len(paths):
                    pending.append(pool.submit(load, paths[i + prefetch]))
                try:
                    loaded, prep = pending[i].result()
                except ImageError as err:
                    if on_error is None:
                        raise
                    on_error(p, err)
                    continue
                pending[i] = None
                yield self.predict_image(loaded.image, shrink, confs_threshold, use_multi_scale, path=p,
                                         coordinate_scale=loaded.scale, prep=prep)

    def __call__(self, source, shrink=None, confs_threshold=None, use_multi_scale=False):
        """Predict on ``source``: an image array or file -> ``ImageResult``; a folder (its images, sorted) or
        a list of arrays / files -> ``Results``. In a folder or list, an unreadable file is logged and
        listed in ``Results.errors`` while the rest goes on."""
        if isinstance(source, np.ndarray):
            result = self.predict_image(source, shrink, confs_threshold, use_multi_scale, path='ndarray_0')
            result.image = source
            return result
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_dir():
            return self.predict_image(str(source), shrink, confs_threshold, use_multi_scale)
        if isinstance(source, (str, os.PathLike)):
            items = sorted(str(p) for p in Path(source).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif isinstance(source, (list, tuple)):
            items = list(source)
        else:
            raise TypeError('MaskDetector(...)(source): source must be an image array, a path, a folder or a list, '
                            'got %s' % type(source).__name__)
        errors = []

        def record(item, err):
            log.warning('%s', err)
            errors.append(str(err))

        results = [None] * len(items)
        arrays = [i for i, it in enumerate(items) if isinstance(it, np.ndarray)]
        for i in arrays:
            results[i] = self.predict_image(items[i], shrink, confs_threshold, use_multi_scale, path='ndarray_%d' % i)
        files = [i for i, it in enumerate(items) if not isinstance(it, np.ndarray)]
        done = iter(self.predict_paths([items[i] for i in files], shrink, confs_threshold, use_multi_scale,
                                       on_error=record))
        by_path = {}
        for result in done:
            by_path.setdefault(result.path, []).append(result)
        for i in files:
            got = by_path.get(str(items[i]))
            if got:
                results[i] = got.pop(0)
        return Results([r for r in results if r is not None], errors)

    # ---- the official module's API -------------------------------------------------------------------
    def predict(self, images=None, paths=None, shrink=None, confs_threshold=None, use_multi_scale=False):
        """``Results`` for in-memory BGR ``images`` and/or image ``paths`` (images first).

        An unreadable path raises ``maskhub.io.images.ImageError`` naming it; the batch CLI records
        such errors per item instead.
        """
        results = Results()
        for i, image in enumerate(images or []):
            results.append(self.predict_image(check_image(image, 'images[%d]' % i), shrink, confs_threshold,
                                              use_multi_scale, path='ndarray_%d' % i))
        results.extend(self.predict_paths(paths or [], shrink, confs_threshold, use_multi_scale))
        return results

    def face_detection(self, images=None, paths=None, shrink=None, confs_threshold=None, use_multi_scale=False,
                       batch_size=1, **_ignored):
        """Same arguments and return structure as Baidu's module (defaults from the model config):
        ``[{'path': ..., 'data': [{'label', 'confidence', 'left', 'top', 'right', 'bottom'}, ...]}, ...]``."""
        return self.predict(images, paths, shrink, confs_threshold, use_multi_scale).to_hub_dicts()

    def predict_dataframe(self, images=None, paths=None, shrink=None, confs_threshold=None, use_multi_scale=False):
        return self.predict(images, paths, shrink, confs_threshold, use_multi_scale).to_df()


def check_image(image, item):
    """``image`` as a uint8 HxWx3 array, or a ValueError naming ``item``."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError('%s: expected uint8 HxWx3 BGR, got %s %s' % (item, image.dtype, image.shape))
    return image
