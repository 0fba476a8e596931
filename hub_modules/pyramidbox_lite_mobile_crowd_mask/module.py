"""PaddleHub module ``pyramidbox_lite_mobile_crowd_mask`` (maskhub's own; no official counterpart).

The mobile network fine-tuned by maskhub for crowds of small faces. The API, serving method and
``hub run`` are ``maskhub.serving.module_base.MaskHubModule``; the weights are ``model/`` next to this
file. Without ``model/model.yml`` the module refuses to load.
"""
from paddlehub.module.module import moduleinfo

from maskhub.serving.module_base import MaskHubModule


@moduleinfo(
    name='pyramidbox_lite_mobile_crowd_mask',
    type='CV/face_detection',
    author='maskhub',
    author_email='',
    version='2.0.0',
    summary='maskhub PyramidBox-Lite-Mobile variant fine-tuned by maskhub for crowds of small faces (maskhub\'s '
            'own weights), with mask classification; same API and output structure as pyramidbox_lite_mobile_mask.')
class PyramidBoxLiteMobileCrowdMask(MaskHubModule):
    pass
