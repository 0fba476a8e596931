"""Writing the ``module.py`` of a new maskhub hub module (used by ``finetune.package --hub-module``)."""
import keyword
import re
from pathlib import Path

MODULE_TEMPLATE = '''"""PaddleHub module ``{name}``, packaged by maskhub from fine-tuned weights.

The API, serving method and ``hub run`` are ``maskhub.serving.module_base.MaskHubModule``; the weights
are ``model/`` next to this file. Without ``model/model.yml`` the module refuses to load.
"""
from paddlehub.module.module import moduleinfo

from maskhub.serving.module_base import MaskHubModule


@moduleinfo(
    name={name!r},
    type='CV/face_detection',
    author='maskhub',
    author_email='',
    version={version!r},
    summary={summary!r})
class {class_name}(MaskHubModule):
    pass
'''


def module_class_name(module_name):
    """'pyramidbox_lite_mobile_crowd_mask' -> 'PyramidboxLiteMobileCrowdMask'."""
    if not re.fullmatch(r'[a-z][a-z0-9_]*', module_name) or keyword.iskeyword(module_name):
        raise ValueError('hub module names are lower-case identifiers, got %r' % module_name)
    return ''.join(part.capitalize() for part in module_name.split('_'))


def write_module_py(module_dir, module_name, summary, version='2.0.0'):
    path = Path(module_dir) / 'module.py'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MODULE_TEMPLATE.format(name=module_name, version=version, class_name=module_class_name(module_name),
                                           summary=summary), encoding='utf-8')
    return path
