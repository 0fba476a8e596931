"""PaddleHub module ``pyramidbox_lite_mobile_mask``, maskhub's re-implementation.

The API, serving method and ``hub run`` are ``maskhub.serving.module_base.MaskHubModule``; the weights
are ``model/`` next to this file (Baidu's official weights, converted: see NOTICE).
"""
from paddlehub.module.module import moduleinfo

from maskhub.serving.module_base import MaskHubModule


@moduleinfo(
    name='pyramidbox_lite_mobile_mask',
    type='CV/face_detection',
    author='maskhub',
    author_email='',
    version='2.0.0',
    summary='maskhub re-implementation of PyramidBox-Lite-Mobile-Mask (face detection + mask classification) '
            'running Baidu\'s official pyramidbox_lite_mobile / pyramidbox_lite_mobile_mask weights, converted '
            'to Paddle Inference; same API and output as the official module.')
class PyramidBoxLiteMobileMask(MaskHubModule):
    pass
