"""``load_detector(spec)``: a maskhub model (``MaskDetector``) or an installed PaddleHub module
(``paddlehub:<name>``, e.g. Baidu's own ``pyramidbox_lite_mobile_mask``), behind one ``predict_image``.

Sits above both so that neither the registry, the pipeline nor the hub-module adapter imports another.
"""
from maskhub.inference.hub_module import PaddleHubModuleDetector
from maskhub.inference.pipeline import MaskDetector

HUB_PREFIX = 'paddlehub:'


def load_detector(model='mobile', **kwargs):
    """A predictor for a model spec: a maskhub model (name or directory; ``kwargs`` go to ``MaskDetector``:
    backend, precision, threads, use_gpu), or 'paddlehub:<module>' for a PaddleHub module installed in the
    user's hub home."""
    if str(model).startswith(HUB_PREFIX):
        return PaddleHubModuleDetector(str(model)[len(HUB_PREFIX):], use_gpu=kwargs.get('use_gpu', False))
    return MaskDetector(model, **kwargs)
