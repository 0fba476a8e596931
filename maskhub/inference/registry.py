"""Model names -> model directories. One registry for the CLI, the hub modules, the dashboard and export."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# name -> model directory relative to the repository (each backs a hub module of the same family)
MODELS = {
    'mobile': 'hub_modules/pyramidbox_lite_mobile_mask/model',
    'mobile_crowd': 'hub_modules/pyramidbox_lite_mobile_crowd_mask/model',
    'server': 'hub_modules/pyramidbox_lite_server_mask/model',
}


class ModelNotFound(LookupError):
    pass


def model_root():
    """Where the named models live: MASKHUB_MODEL_ROOT, else this checkout."""
    return Path(os.environ.get('MASKHUB_MODEL_ROOT', REPO_ROOT))


def resolve_model_dir(model):
    """A registered name or a directory holding model.yml -> that directory (Path)."""
    if isinstance(model, (str, os.PathLike)) and str(model) in MODELS:
        path = model_root() / MODELS[str(model)]
        if not (path / 'model.yml').exists():
            raise ModelNotFound('model %r is registered but its files are missing: %s/model.yml '
                                '(not trained or packaged yet?)' % (str(model), path))
        return path
    path = Path(model)
    if (path / 'model.yml').exists():
        return path
    if (path / 'model' / 'model.yml').exists():        # a hub module directory
        return path / 'model'
    raise ModelNotFound('unknown model %r: use one of %s or a model directory containing model.yml'
                        % (str(model), sorted(MODELS)))


def available_models():
    return [name for name, rel in MODELS.items() if (model_root() / rel / 'model.yml').exists()]


def load_detector(model='mobile', **kwargs):
    """A predictor for a model spec: a maskhub model (name or directory), or 'paddlehub:<module>'
    for a PaddleHub module installed in the user's hub home (e.g. Baidu's own modules)."""
    if str(model).startswith('paddlehub:'):
        from maskhub.inference.hub_module import PaddleHubModuleDetector
        return PaddleHubModuleDetector(str(model).split(':', 1)[1], use_gpu=kwargs.get('use_gpu', False))
    from maskhub.inference.pipeline import MaskDetector
    return MaskDetector(model, **kwargs)
