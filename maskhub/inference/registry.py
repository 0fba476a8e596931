"""Model names -> model directories. One registry for the CLI, the hub modules, the dashboard and export.

Imports nothing else of maskhub: the pipeline, the PaddleHub-module adapter and ``maskhub.inference.loader``
(which picks between them) all import this, never the other way round.
"""
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
    if (path / 'paddle' / 'model.yml').exists():       # a Paddle-Lite bundle (lite_export)
        return path / 'paddle'
    raise ModelNotFound('unknown model %r: use one of %s or a model directory containing model.yml'
                        % (str(model), sorted(MODELS)))


def available_models():
    return [name for name, rel in MODELS.items() if (model_root() / rel / 'model.yml').exists()]
