"""Paddle-Lite export: the .nb files convert, run on x86 through paddlelite's MobileConfig, and give the
same faces as Paddle Inference. Exports into a tmp dir (~15 s per model), then verifies on real images."""
import json

import numpy as np
import pytest

from conftest import reference_dir

pytest.importorskip('paddlelite')

from lite_export.app_config import read_app_config  # noqa: E402
from lite_export.export import export_bundle  # noqa: E402
from lite_export.verify import compare_faces, verify_bundle  # noqa: E402
from maskhub.config import ModelConfig  # noqa: E402
from maskhub.inference.lite_runner import PaddleLiteRunner  # noqa: E402
from maskhub.inference.predictor import PaddleInferenceRunner  # noqa: E402
from maskhub.inference.registry import available_models, resolve_model_dir  # noqa: E402

MODELS = available_models()


@pytest.fixture(scope='module', params=MODELS)
def bundle(request, tmp_path_factory):
    out = tmp_path_factory.mktemp('lite_%s' % request.param)
    export_bundle(request.param, out)
    return request.param, out


def test_bundle_has_nb_files_for_arm_and_x86_and_an_app_config(bundle):
    name, out = bundle
    app_config = read_app_config(out)
    for variant in ('arm', 'x86'):
        for net in ('detector', 'classifier'):
            path = out / app_config['files'][variant][net]
            assert path.is_file() and path.stat().st_size > 10_000
    config = ModelConfig.from_yaml(resolve_model_dir(name) / 'model.yml')
    det, cls = app_config['detector'], app_config['classifier']
    assert det['input']['normalisation']['mean_bgr'] == list(config.detector.mean_bgr)
    assert [(l['stride'], tuple(l['sizes'])) for l in det['priors']['levels']] == list(config.detector.prior_box)
    assert det['nms']['iou_threshold'] == config.detector.nms.iou_threshold
    assert cls['labels'] == list(config.classifier.labels)
    assert cls['crop'] == {**cls['crop'], 'context': 1.5, 'size': 128}
    assert cls['input']['normalisation']['formula'] == 'pixel / 256 - 0.5'
    assert app_config['defaults']['shrink'] == config.defaults.shrink
    assert app_config['paddle_lite']['opt_version'].startswith('v2.13')
    json.dumps(app_config)


def test_detector_runner_is_safe_when_inputs_shrink_and_grow(bundle):
    """The sequence that corrupts the heap when one x86 predictor is reused; outputs must match Paddle Inference."""
    name, out = bundle
    lite = PaddleLiteRunner(out / 'x86' / 'detector.nb', max_shapes=2)
    reference = PaddleInferenceRunner(resolve_model_dir(name) / 'detector', threads=2)
    rng = np.random.default_rng(0)
    for h, w in [(240, 320), (104, 136), (120, 160), (240, 320), (200, 320), (104, 136)]:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        for got, want in zip(lite(x), reference(x)):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-4)
    assert lite.predictors_created == 6      # 4 shapes; (240, 320) and (104, 136) were evicted once (2 slots)


def test_classifier_fixed_batch_matches_any_batch(bundle):
    _, out = bundle
    x = np.random.default_rng(1).standard_normal((5, 3, 128, 128)).astype(np.float32)
    whole = PaddleLiteRunner(out / 'x86' / 'classifier.nb')(x)[0]
    in_threes = PaddleLiteRunner(out / 'x86' / 'classifier.nb', batch_size=3)(x)[0]
    assert in_threes.shape == (5, 2)
    np.testing.assert_allclose(in_threes, whole, atol=1e-6)


def test_x86_nb_gives_the_same_faces_as_paddle_inference(bundle):
    _, out = bundle
    images = sorted((reference_dir() / 'images').glob('*.jpg'))[:3]
    assert images, 'no test images'
    report = verify_bundle(out, images=images)
    assert report['reference_faces'] > 0
    failed = [r for r in report['per_image'] if not r['passed']]
    assert report['passed'], failed
    assert report['min_iou'] >= 0.9 and report['max_score_diff'] <= 1e-3
    assert (out / 'verification.json').is_file()


def test_compare_faces_tolerates_only_faces_on_the_threshold():
    face = dict(label='MASK', confidence=0.9, left=10, top=10, right=50, bottom=60, face_score=0.95)
    edge = dict(face, left=100, right=140, face_score=0.6004)
    assert compare_faces([face, edge], [face], confs_threshold=0.6)['passed']
    result = compare_faces([face, dict(edge, face_score=0.7)], [face], confs_threshold=0.6)
    assert not result['passed'] and result['unmatched'] == 1
    assert not compare_faces([face], [dict(face, label='NO MASK')], confs_threshold=0.6)['passed']
    assert not compare_faces([face], [dict(face, confidence=0.89)], confs_threshold=0.6)['passed']


@pytest.mark.parametrize('model, strides', [('mobile_crowd', [8, 16, 32]), ('server', [4, 8, 16, 8, 16, 32, 16, 32, 64])])
def test_committed_bundle_is_the_shipped_model(model, strides):
    """The Paddle-Lite bundles committed in lite_export/bundles (ARM .nb for apps, x86 .nb to check them) give
    the faces that the shipped hub module gives through Paddle Inference: a retrained model without a
    re-exported bundle fails here."""
    from maskhub.data.paths import REPO_ROOT
    committed = REPO_ROOT / 'lite_export' / 'bundles' / model
    app_config = read_app_config(committed)
    assert [l['stride'] for l in app_config['detector']['priors']['levels']] == strides
    for net in ('detector', 'classifier'):
        assert (committed / app_config['files']['arm'][net]).stat().st_size > 10_000
    assert json.loads((committed / 'verification.json').read_text())['passed']
    images = sorted((reference_dir() / 'images').glob('*.jpg'))[:3]
    report = verify_bundle(committed, images=images, reference=resolve_model_dir(model), write_report=False)
    assert report['reference_faces'] > 0 and report['passed'], [r for r in report['per_image'] if not r['passed']]
