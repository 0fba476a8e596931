"""Our mobile model against the official Paddle-Lite runtime's outputs (tolerances from the reference README),
through every runtime at fp32: Paddle Inference, OpenVINO (same .pdmodel) and Paddle-Lite x86 (.nb bundle)."""
import numpy as np
import pandas as pd
import paddle
import pytest

from maskhub.inference.export import load_dygraph
from maskhub.inference.postprocess import detect_faces, to_pixel_boxes
from maskhub.inference.preprocess import crop_face, face_crop_affine, normalize_classifier
from maskhub.inference.registry import resolve_model_dir
from maskhub.models.priors import density_priors

from conftest import reference_dir
from reference_cases import case_files, load_case, sha256

CASES = case_files(reference_dir())
RUNTIMES = ('paddle', 'openvino', 'lite')


@pytest.fixture(scope='module', params=CASES, ids=[c.stem for c in CASES])
def case(request):
    return load_case(request.param)


@pytest.fixture(scope='session')
def parity_detectors(tmp_path_factory):
    """MaskDetector('mobile') per runtime at fp32, built once (the Paddle-Lite bundle is exported once)."""
    built = {}

    def get(runtime):
        if runtime not in built:
            from maskhub import MaskDetector
            if runtime == 'lite':
                from lite_export.export import export_bundle
                bundle = tmp_path_factory.mktemp('parity_lite')
                export_bundle('mobile', bundle, targets=('x86',))
                built[runtime] = MaskDetector(bundle, backend='lite', precision='fp32')
            else:
                built[runtime] = MaskDetector('mobile', backend=runtime, precision='fp32', threads=2)
        return built[runtime]
    return get


@pytest.fixture(params=RUNTIMES)
def fp32_detector(request, parity_detectors):
    """MaskDetector('mobile') on one runtime at fp32 (Paddle-Lite from a bundle exported into a tmp dir)."""
    pytest.importorskip({'openvino': 'openvino', 'lite': 'paddlelite'}.get(request.param, 'paddle'))
    return parity_detectors(request.param)


@pytest.fixture(scope='module')
def dygraph_model():
    config, detector, classifier = load_dygraph(resolve_model_dir('mobile'))
    return config, detector, classifier


def test_reference_cases_present():
    assert len(CASES) >= 2, 'no reference cases found in %s' % reference_dir()


def test_detector_input_is_bit_exact(case):
    assert sha256(case['input']) == str(case['input_sha256'])


def test_priors(case, mobile_detector):
    h, w = (int(v) for v in case['input_hw'])
    priors = density_priors(h, w, mobile_detector.config.detector.prior_box)
    np.testing.assert_allclose(priors, case['priors'], atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.broadcast_to(mobile_detector.config.detector.variances, priors.shape),
                               case['prior_variances'], atol=1e-6, rtol=0)


def test_raw_heads_dygraph(case, dygraph_model):
    _, detector, _ = dygraph_model
    with paddle.no_grad():
        loc, logits, landmarks = (t.numpy() for t in detector(paddle.to_tensor(case['input'])))
    np.testing.assert_allclose(loc, case['loc'], atol=1e-4, rtol=0)
    if 'conf_logits' in case:
        np.testing.assert_allclose(logits, case['conf_logits'], atol=5e-5, rtol=0)
        np.testing.assert_allclose(landmarks, case['landmarks_raw'], atol=1e-4, rtol=0)


def test_heads_and_detections(case, fp32_detector):
    assert fp32_detector.precision == 'fp32'
    loc, conf, _ = fp32_detector.infer(case['input'])
    np.testing.assert_allclose(loc, case['loc'], atol=1e-4, rtol=0)
    np.testing.assert_allclose(conf, case['conf_softmax'], atol=1e-5, rtol=0)
    cfg = fp32_detector.config.detector
    h, w = (int(v) for v in case['input_hw'])
    det, index = detect_faces(loc[0], conf[0], density_priors(h, w, cfg.prior_box), cfg.variances, cfg.nms)
    ref_det, ref_index = case['detections'], case['detections_index']
    # rows can only legitimately differ at the score / keep_top_k cut-offs: compare rows scoring >= 0.1
    ours = {int(i): row for i, row in zip(index, det) if row[1] >= 0.1}
    theirs = {int(i): row for i, row in zip(ref_index, ref_det) if row[1] >= 0.1}
    assert ours.keys() == theirs.keys()
    for i in theirs:
        np.testing.assert_allclose(ours[i], theirs[i], atol=1e-5, rtol=0)
    assert abs(len(index) - len(ref_index)) <= 2


def test_classifier_crops_and_probabilities(case, fp32_detector):
    image = case['image']
    for k, box in enumerate(case['boxes_px']):
        np.testing.assert_array_equal(face_crop_affine(box), case['cls_affine'][k])
        crop = normalize_classifier(crop_face(image, box)[None])
        assert sha256(crop) == str(case['cls_input_sha256'][k])
    if len(case['boxes_px']):
        probs = fp32_detector.classify(image, case['boxes_px'])
        np.testing.assert_allclose(probs, case['cls_output'], atol=1e-5, rtol=0)


def test_pixel_boxes(case):
    rows = case['detections'][case['cls_det_row']]
    h, w = (int(v) for v in case['input_hw'])
    boxes = to_pixel_boxes(rows[:, 2:], (h, w), float(case['shrink']), case['image'].shape[:2])
    np.testing.assert_array_equal(boxes, case['boxes_px'])


@pytest.mark.parametrize('table,shrink', [('expected_table.csv', 0.5), ('expected_table_shrink1.0.csv', 1.0)])
def test_final_table_matches_official_module(fp32_detector, table, shrink):
    folder = reference_dir()
    expected = pd.read_csv(folder / table)
    images = list(dict.fromkeys(expected['image']))
    results = fp32_detector.face_detection(paths=[str(folder / 'images' / i) for i in images], shrink=shrink)
    for image, result in zip(images, results):
        exp = expected[expected['image'] == image]
        got = pd.DataFrame(result['data'])
        assert len(got) == len(exp), image
        assert got['label'].tolist() == exp['label'].tolist(), image
        for c in ('left', 'top', 'right', 'bottom'):
            assert got[c].tolist() == exp[c].tolist(), (image, c)
        np.testing.assert_allclose(got['confidence'], exp['confidence'], atol=1e-4, rtol=0)
