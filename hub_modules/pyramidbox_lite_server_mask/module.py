"""PaddleHub module ``pyramidbox_lite_server_mask``, maskhub's re-implementation.

The API, serving method and ``hub run`` are ``maskhub.serving.module_base.MaskHubModule``; the weights
are ``model/`` next to this file: maskhub's own server model, not Baidu's. Without ``model/model.yml``
the module refuses to load.
"""
from paddlehub.module.module import moduleinfo

from maskhub.serving.module_base import MaskHubModule


@moduleinfo(
    name='pyramidbox_lite_server_mask',
    type='CV/face_detection',
    author='maskhub',
    author_email='',
    version='2.5.0',
    summary='maskhub re-implementation of PyramidBox-Lite-Server-Mask (face detection + mask classification) '
            'with maskhub\'s own server model trained by maskhub (not Baidu\'s weights); same API and output '
            'structure as the official module.')
class PyramidBoxLiteServerMask(MaskHubModule):
    pass
