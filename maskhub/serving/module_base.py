"""``MaskHubModule``: the PaddleHub module class behind every ``hub_modules/<name>/module.py``.

A hub module only adds ``@moduleinfo`` (name, version, summary) to a subclass; the API, the serving
method and ``hub run`` live here once. The weights are the module directory's ``model/`` folder
(a maskhub model directory, see docs/ARCHITECTURE.md), run by ``MaskDetector``.
"""
import argparse
import ast
import inspect
import logging
import os
import shutil
from pathlib import Path

from paddlehub.module.module import Module, runnable, serving

from maskhub.inference.registry import ModelNotFound

# what save_inference_model copies: the Paddle Inference graphs and the config that describes them
INFERENCE_FILES = ('model.yml', 'detector.pdmodel', 'detector.pdiparams', 'classifier.pdmodel',
                   'classifier.pdiparams')


def module_model_dir(module_directory, module_name):
    """``<module directory>/model``, or ``ModelNotFound`` saying what is missing (never another model)."""
    model_dir = Path(module_directory) / 'model'
    if not (model_dir / 'model.yml').exists():
        raise ModelNotFound('hub module %s has no model: %s is missing. This module ships only code until its '
                            'weights are trained and packaged into model/ (see the module README); it does not '
                            'fall back to another model.' % (module_name, model_dir / 'model.yml'))
    return model_dir


class MaskHubModule(Module):
    """Face detection + mask classification with the official ``pyramidbox_lite_*_mask`` API.

    Args:
        use_gpu: run Paddle Inference on GPU 0.
        threads: CPU threads per process (default: MASKHUB_THREADS or all cores).
    """

    # RunModule wraps every method call in PaddleHub's static_mode_guard, which is not exception-safe:
    # a raising call (e.g. an unreadable path) would leave the whole process in static-graph mode.
    # Paddle Inference needs neither mode, so method calls here are left unwrapped.
    __getattribute__ = object.__getattribute__

    def __init__(self, use_gpu=False, threads=None, **_ignored):
        directory = getattr(self, 'directory', None) or Path(inspect.getfile(type(self))).parent
        self.model_dir = module_model_dir(directory, self.name)
        self.use_gpu, self.threads = bool(use_gpu), threads
        from maskhub.serving import protocol
        from maskhub.serving.limits import ServingLimits
        self.limits = ServingLimits.from_env()
        # protocol errors as JSON and the body limit, also in the Flask app `hub serving` builds itself
        protocol.install(self.limits.max_body_bytes)
        from maskhub.io.zlib_order import zlib_bound_to_paddle
        if zlib_bound_to_paddle():
            logging.getLogger(__name__).warning(
                'Paddle was loaded before maskhub in this process, so the system zlib is bound to Paddle\'s copy '
                '(maskhub/io/zlib_order.py): images other than JPEG are decoded in a helper process')
        self._detector, self._detector_key = None, None
        self.detector      # load now, so a broken model fails at load time rather than on the first request

    @property
    def detector(self):
        """The ``MaskDetector`` of this process: ``hub serving --use_multiprocess`` forks workers after
        loading the module, and Paddle predictors are not shared across processes, so each builds its own."""
        key = (os.getpid(), self.use_gpu)
        if self._detector_key != key:
            from maskhub.inference.pipeline import MaskDetector
            self._detector = MaskDetector(model=self.model_dir, threads=self.threads, use_gpu=self.use_gpu)
            self._detector_key = key
        return self._detector

    def face_detection(self, images=None, paths=None, data=None, batch_size=1, use_gpu=False, visualization=False,
                       output_dir='detection_result', use_multi_scale=False, shrink=None, confs_threshold=None):
        """Detect faces and tell MASK from NO MASK.

        Args:
            images: list of uint8 HxWx3 BGR arrays (``cv2.imread``).
            paths: list of image files.
            data: ``{'image': [paths]}`` or ``{'data': [images]}``, the older calling convention.
            batch_size: accepted for compatibility; images run one by one.
            use_gpu: run on GPU 0 (needs a CUDA build of Paddle).
            visualization: write annotated images into ``output_dir``.
            use_multi_scale: the official multi-scale mode (the config's shrinks 0.3 / 0.6 / 0.9, box voting).
            shrink: detector input scale (default and valid range: the model config's; mobile and mobile_crowd
                0.5, server 0.75, in (0, 4]).
            confs_threshold: face score threshold (default and valid range: the model config's, 0.6 in [0, 1]).

        Returns:
            ``[{'path': ..., 'data': [{'label': 'MASK' | 'NO MASK', 'confidence', 'left', 'top', 'right',
            'bottom'}, ...]}, ...]``, images first, then paths.
        """
        if use_gpu and not self.use_gpu:
            import paddle
            if not paddle.is_compiled_with_cuda():
                raise RuntimeError('use_gpu=True but this Paddle build has no CUDA support')
            self.use_gpu = True
        data = data or {}
        images = list(images or []) + list(data.get('data', []))
        paths = list(paths or []) + list(data.get('image', []))
        loaded = self._load_inputs(images, paths)
        results = []
        for name, image, scale in loaded:
            result = self.detector.predict_image(image, shrink, confs_threshold, use_multi_scale, path=name,
                                                 coordinate_scale=scale)
            if visualization:
                self._save_visualization(image, scale, result, output_dir)
            results.append(result.to_hub_dict())
        return results

    @staticmethod
    def _load_inputs(images, paths):
        """(name, BGR image, original pixels per decoded pixel) for every input, images first."""
        import numpy as np
        from maskhub.io.images import read_image
        items = []
        for i, image in enumerate(images or []):
            image = np.asarray(image)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError('images[%d]: expected uint8 HxWx3 BGR, got %s %s' % (i, image.dtype, image.shape))
            items.append(('ndarray_%d' % i, image, 1.0))
        for path in paths:
            image = read_image(path)
            items.append((str(path), image.image, image.scale))
        return items

    @staticmethod
    def _save_visualization(image, scale, result, output_dir):
        import dataclasses

        import cv2

        from maskhub.io.draw import draw_faces
        faces = result.faces
        if scale != 1.0:   # boxes are in original pixels, the image was decoded smaller
            faces = [dataclasses.replace(f, left=int(f.left / scale), top=int(f.top / scale),
                                         right=int(f.right / scale), bottom=int(f.bottom / scale)) for f in faces]
        os.makedirs(output_dir, exist_ok=True)
        stem = Path(result.path).stem if not result.path.startswith('ndarray_') else result.path
        out = os.path.join(output_dir, stem + '.jpg')
        if not cv2.imwrite(out, draw_faces(image, faces)):
            raise OSError('could not write %s' % out)
        return out

    def save_inference_model(self, dirname, model_filename=None, params_filename=None, combined=True, **_ignored):
        """Copy the module's Paddle Inference files (``detector.*``, ``classifier.*``, ``model.yml``) into
        ``dirname``; the detector's priors and NMS run outside the graph, as ``model.yml`` describes.
        Returns the written paths."""
        os.makedirs(dirname, exist_ok=True)
        written = []
        for name in INFERENCE_FILES:
            written.append(shutil.copy2(self.model_dir / name, os.path.join(dirname, name)))
        return written

    @serving
    def serving_method(self, images=None, **fields):
        """``POST /predict/<module name>`` with ``{"images": [base64, ...], "shrink": ..., ...}``."""
        from maskhub.serving.service import predict_base64_images
        return predict_base64_images(self.detector, images, fields, self.limits)

    @runnable
    def run_cmd(self, argvs):
        """``hub run <module name> --input_path IMAGE [--shrink 0.5] [--confs_threshold 0.6] ...``"""
        parser = argparse.ArgumentParser(prog='hub run %s' % self.name, description=self.summary)
        parser.add_argument('--input_path', required=True, help='image file')
        defaults = self.detector.config.defaults
        parser.add_argument('--shrink', type=float, default=defaults.shrink, help='detector input scale')
        parser.add_argument('--confs_threshold', type=float, default=defaults.confs_threshold,
                            help='face score threshold')
        parser.add_argument('--use_multi_scale', type=ast.literal_eval, default=False, help='True or False')
        parser.add_argument('--use_gpu', type=ast.literal_eval, default=False, help='True or False')
        parser.add_argument('--visualization', type=ast.literal_eval, default=False, help='True or False')
        parser.add_argument('--output_dir', default='detection_result')
        parser.add_argument('--batch_size', type=int, default=1)
        args = parser.parse_args(argvs)
        from maskhub.io.images import ImageError
        try:
            return self.face_detection(paths=[args.input_path], batch_size=args.batch_size, use_gpu=args.use_gpu,
                                       visualization=args.visualization, output_dir=args.output_dir,
                                       use_multi_scale=args.use_multi_scale, shrink=args.shrink,
                                       confs_threshold=args.confs_threshold)
        except ImageError as err:
            raise SystemExit('hub run %s: %s' % (self.name, err)) from None
