"""PaddleHub module ``pyramidbox_lite_mobile_crowd_mask`` (maskhub's own; no official counterpart).

The mobile network fine-tuned by maskhub on crowd and mask photos. Its detector does not beat the
official weights on crowds (WIDER val face AP 60.3 vs 60.9 at shrink 0.5): it is not a crowd detector;
its gain is the fine-tuned mask classifier. The API, serving method and
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
    summary='maskhub PyramidBox-Lite-Mobile fine-tune (maskhub\'s own weights). Not a crowd detector: on crowd '
            'photos it does not beat the official weights (WIDER val face AP 60.3 vs 60.9 at shrink 0.5); its mask '
            'classifier is better (90.9 vs 83.9 % on mask val crops). Same API and output structure as '
            'pyramidbox_lite_mobile_mask.')
class PyramidBoxLiteMobileCrowdMask(MaskHubModule):
    pass
