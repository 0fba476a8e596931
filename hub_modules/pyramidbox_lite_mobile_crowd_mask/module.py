"""PaddleHub module ``pyramidbox_lite_mobile_crowd_mask`` (maskhub's own; no official counterpart).

A mobile-class crowd detector trained by maskhub: the official mobile network plus a stride-4
level for small faces (4 and 8 px anchors on a top-down feature fusion, 1.31x the official compute, full-resolution stem), every
layer trained by maskhub (round 10); WIDER val face AP 70.6 vs the official 60.9 at shrink 0.5. The API, serving method and
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
    version='2.5.0',
    summary='maskhub mobile-class crowd detector (official PyramidBox-Lite-Mobile + a stride-4 level for small faces, '
            'maskhub\'s own weights): WIDER val face AP 70.6 vs 60.9 for the official weights at shrink 0.5, 79.7 vs 76.9 at '
            'shrink 1.0, 1.31x the compute; profile-face recall not above the official weights\' at shrink 0.5; fine-tuned mask classifier (90.9 vs 83.9 % on mask val crops). Same API and '
            'output structure as pyramidbox_lite_mobile_mask.')
class PyramidBoxLiteMobileCrowdMask(MaskHubModule):
    pass
