"""``PaddleHubModuleDetector``: an installed PaddleHub face-mask module (e.g. Baidu's own
``pyramidbox_lite_mobile_mask``) behind the same ``predict_image`` interface as ``MaskDetector``, so
``maskhub predict --model paddlehub:<name>`` writes the same tables for both.

The official API returns label, confidence and box only: ``face_score`` is NaN, and ``mask_probability``
is derived from the two-class confidence. The module runs detection and classification in one call,
so its whole time is reported as ``timings_ms['detect']`` (``'classify'`` is 0).
"""
import time
from pathlib import Path

from maskhub.inference.registry import ModelNotFound
from maskhub.inference.results import Face, ImageResult

NAN = float('nan')


def load_hub_module(name_or_directory):
    """``hub.Module`` of an installed module name (never downloading) or of a module directory."""
    import paddlehub as hub
    if Path(name_or_directory).is_dir():
        return hub.Module(directory=str(name_or_directory))
    from paddlehub.module.manager import LocalModuleManager
    manager = LocalModuleManager()
    if manager.search(name_or_directory) is None:
        raise ModelNotFound('PaddleHub module %r is not installed in %s (HUB_HOME): install it with '
                            '`hub install %s` (or a module directory) first'
                            % (name_or_directory, manager.home, name_or_directory))
    return hub.Module(name=name_or_directory)


def mask_probability(label, confidence):
    if label == 'MASK':
        return float(confidence)
    if label == 'NO MASK':
        return 1.0 - float(confidence)
    return NAN


class PaddleHubModuleDetector:
    """Predictions of a PaddleHub module's ``face_detection`` as ``ImageResult``s.

    Args:
        module: an installed module name (looked up in HUB_HOME) or a module directory.
        use_gpu: passed to ``face_detection``.
    """

    def __init__(self, module, use_gpu=False):
        self.module = load_hub_module(module)
        self.name = 'paddlehub:%s' % getattr(self.module, 'name', module)
        self.use_gpu = use_gpu

    def predict_image(self, image_bgr, shrink=None, confs_threshold=None, use_multi_scale=False, path='',
                      coordinate_scale=1.0, frame=None, timestamp_s=None):
        """Run the module on one uint8 BGR image; boxes are multiplied by ``coordinate_scale``."""
        kwargs = {'images': [image_bgr], 'use_multi_scale': bool(use_multi_scale)}
        if shrink is not None:
            kwargs['shrink'] = float(shrink)
        if confs_threshold is not None:
            kwargs['confs_threshold'] = float(confs_threshold)
        if self.use_gpu:
            kwargs['use_gpu'] = True
        t0 = time.perf_counter()
        output = self.module.face_detection(**kwargs)
        elapsed_ms = 1e3 * (time.perf_counter() - t0)
        if len(output) != 1:
            raise RuntimeError('%s returned %d results for one image' % (self.name, len(output)))

        def scaled(value):
            return int(round(value * coordinate_scale)) if coordinate_scale != 1.0 else int(value)

        faces = [Face(d['label'], float(d['confidence']), scaled(d['left']), scaled(d['top']), scaled(d['right']),
                      scaled(d['bottom']), NAN, mask_probability(d['label'], d['confidence']))
                 for d in output[0].get('data', [])]
        height, width = image_bgr.shape[:2]
        return ImageResult(path=str(path), faces=faces, image_width=int(round(width * coordinate_scale)),
                           image_height=int(round(height * coordinate_scale)), frame=frame, timestamp_s=timestamp_s,
                           model=self.name, timings_ms={'detect': elapsed_ms, 'classify': 0.0})
