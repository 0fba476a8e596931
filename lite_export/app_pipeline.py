"""What a mobile app does with a bundle, in Python: ``model_config.json`` + ``.nb`` files -> faces.

Every parameter comes from ``model_config.json`` (none from maskhub's model config): the JSON is turned
into a ``ModelConfig`` and the ``.nb`` files into Paddle-Lite runners, and maskhub's own pipeline
(``MaskDetector.from_runners``: the same preprocess / infer / postprocess stages as every other runtime)
runs them. Verification against Paddle Inference so checks the JSON, the ``.nb`` files and the
Paddle-Lite runtime together.
"""
from pathlib import Path

from lite_export.app_config import read_app_config
from maskhub.config import ClassifierConfig, DetectorConfig, ModelConfig
from maskhub.inference.postprocess import NMSParams
from maskhub.inference.runtimes import build_runner
from maskhub.inference.pipeline import MaskDetector


def model_config_from_app(app_config):
    """The ``ModelConfig`` an app would run, read from the bundle's ``model_config.json`` only."""
    from maskhub.config import Defaults
    det, cls, defaults = app_config['detector'], app_config['classifier'], app_config['defaults']
    nms = det['nms']
    detector = DetectorConfig(
        architecture=app_config['model']['name'],
        prior_box=tuple((int(level['stride']), tuple(float(s) for s in level['sizes']))
                        for level in det['priors']['levels']),
        variances=tuple(det['decode']['variances']),
        mean_bgr=tuple(det['input']['normalisation']['mean_bgr']), std=float(det['input']['normalisation']['std']),
        nms=NMSParams(score_threshold=nms['score_threshold'], nms_top_k=nms['nms_top_k'],
                      iou_threshold=nms['iou_threshold'], keep_top_k=nms['keep_top_k'],
                      box_vote_iou=float(nms.get('box_vote_iou', 0.0))),     # bundles before 2026-12-07 have none
        input_scale=float(det['input'].get('input_scale', 1.0)),     # bundles exported before round 8 have none
        flip_test=bool(det.get('flip_test', {}).get('enabled', False)))
    classifier = ClassifierConfig(input_size=int(cls['crop']['size']), crop_context=float(cls['crop']['context']),
                                  labels=tuple(cls['labels']))
    return ModelConfig(name=app_config['model']['name'], detector=detector, classifier=classifier,
                       defaults=Defaults(shrink=defaults['shrink'], confs_threshold=defaults['confs_threshold'],
                                         multi_scale_shrinks=tuple(defaults['multi_scale_shrinks']),
                                         vote_iou=defaults['vote_iou']))


def lite_app_detector(bundle_dir, variant='x86'):
    """A ``MaskDetector`` over one bundle variant's detector + classifier ``.nb`` ('x86', or 'int8_x86')."""
    bundle_dir = Path(bundle_dir)
    app_config = read_app_config(bundle_dir)
    files = app_config['files']
    if variant not in files:
        raise KeyError('bundle %s has no %r files (has: %s)' % (bundle_dir, variant, sorted(files)))
    precision = 'int8' if variant.startswith('int8') else 'fp32'
    detector = build_runner('lite', bundle_dir / files[variant]['detector'], precision)
    classifier = build_runner('lite', bundle_dir / files[variant]['classifier'], precision, role='classifier')
    return MaskDetector.from_runners(model_config_from_app(app_config), detector, classifier,
                                     name='%s[%s]' % (app_config['model']['name'], variant),
                                     reason='Paddle-Lite bundle %s, variant %s' % (bundle_dir.name, variant))
