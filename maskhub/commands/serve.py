"""maskhub serve MODULE...: the PaddleHub serving protocol over HTTP on this machine (maskhub.serving.app).

MODULE: a hub module folder, an installed module name, or a maskhub model name ('mobile',
'mobile_crowd', 'server') for the module shipped with it. Listens on 127.0.0.1 unless --host says
otherwise; bodies above --max-request-mb get HTTP 413 before they are read.
"""
from pathlib import Path


def add_arguments(parser):
    from maskhub.serving.app import add_arguments as app_arguments
    app_arguments(parser)


def module_spec(spec):
    """A registered model name -> the folder of its hub module; anything else unchanged."""
    from maskhub.inference.registry import MODELS, model_root
    if spec in MODELS:
        return str((model_root() / MODELS[spec]).parent)
    return spec


def run(args):
    from maskhub.errors import UsageError
    from maskhub.serving.app import serve
    args.modules = [module_spec(m) for m in args.modules]
    missing = [m for m in args.modules if ('/' in m or m.startswith('.')) and not Path(m).is_dir()]
    if missing:
        raise UsageError('module folder %s not found' % missing[0])
    return serve(args)
