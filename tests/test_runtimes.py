"""Runtimes and the pipeline API: the factory's choice by CPU flags (flag sets injected), the precision rule,
config-driven defaults and ranges, the results type, multi-scale as the official module, batch order.
Per-runtime parity with the official reference is in test_parity.py."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, reference_dir
from maskhub.config import ConfigError, ModelConfig, OptionError, load_builtin_config
from maskhub.inference import parity, postprocess, runtimes
from maskhub.inference.cpu import has_bf16, has_int8, isa_summary

AMX_XEON = {'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8', 'amx_tile'}
AVX2_EPYC = {'avx2', 'fma', 'sse4_2'}
REFERENCE_IMAGES = sorted((reference_dir() / 'images').glob('*.jpg'))


def test_cpu_flags_decide_precisions():
    assert has_bf16(AMX_XEON) and has_int8(AMX_XEON)
    assert not has_bf16(AVX2_EPYC) and not has_int8(AVX2_EPYC)
    assert isa_summary(AVX2_EPYC) == ['avx2', 'fma']


def pick(*args, **kwargs):
    choice = runtimes.choose_runtime(*args, **kwargs)
    return choice.backend, choice.precision


def test_auto_choice_by_cpu_flags(monkeypatch):
    # nothing below fp32 passed parity: fp32 everywhere, OpenVINO first, Paddle without OpenVINO or with a GPU
    assert pick(AMX_XEON, openvino_installed=True) == ('openvino', 'fp32')
    assert pick(AVX2_EPYC, openvino_installed=True) == ('openvino', 'fp32')
    assert pick(AMX_XEON, openvino_installed=False) == ('paddle', 'fp32')
    assert pick(AMX_XEON, use_gpu=True) == ('paddle', 'fp32')
    monkeypatch.setattr(runtimes, 'gpu_available', lambda: True)       # a CUDA Paddle and an NVIDIA device
    assert pick(AMX_XEON, use_gpu=None) == ('paddle', 'fp32')
    assert pick(AMX_XEON, use_gpu=False, openvino_installed=True) == ('openvino', 'fp32')
    # had bf16 passed, only a CPU with bf16 would get it; an AVX2-only CPU never does
    monkeypatch.setattr(runtimes, 'PARITY_PASSED', frozenset({('openvino', 'bf16')}))
    assert pick(AMX_XEON, openvino_installed=True) == ('openvino', 'bf16')
    assert pick(AVX2_EPYC, openvino_installed=True) == ('openvino', 'fp32')
    assert runtimes.default_precision('openvino', AVX2_EPYC) == 'fp32'


def test_bf16_refused_on_a_cpu_without_it():
    pytest.importorskip('openvino')
    from maskhub.inference.registry import resolve_model_dir
    with pytest.raises(runtimes.RuntimeUnavailable, match='bf16'):
        runtimes.build_runners(resolve_model_dir('mobile'), 'openvino', 'bf16', threads=1, flags=AVX2_EPYC)
    with pytest.raises(ValueError, match='backend must be one of'):
        runtimes.build_runners(resolve_model_dir('mobile'), 'tensorrt')


def test_precision_rule_on_real_faces(mobile_detector):
    image = cv2.imread(str(REFERENCE_IMAGES[0]))
    faces = [parity.face_to_dict(f) for f in mobile_detector.predict_image(image).faces]
    assert faces, 'no faces on %s' % REFERENCE_IMAGES[0]
    threshold = mobile_detector.config.defaults.confs_threshold
    assert parity.compare_faces(faces, faces, threshold)['passed']
    for delta, passed in ((4e-3, True), (6e-3, False)):
        moved = [dict(f) for f in faces]
        moved[0]['face_score'] += delta
        assert parity.compare_faces(faces, moved, threshold)['passed'] is passed
    shifted = [dict(f) for f in faces]
    width = shifted[0]['right'] - shifted[0]['left']
    shifted[0]['left'] += width // 4                        # IoU 0.75 < 0.9: that face is not the same face
    shifted[0]['right'] += width // 4
    result = parity.compare_faces(faces, shifted, threshold)
    assert not result['passed'] and result['unmatched'] == 2


def test_options_come_from_the_config_and_are_checked(mobile_detector):
    config = mobile_detector.config
    assert config.options() == (config.defaults.shrink, config.defaults.confs_threshold)
    image = cv2.imread(str(REFERENCE_IMAGES[0]))
    with pytest.raises(OptionError, match=r'shrink must be in \(0, 4\], got 5'):
        mobile_detector.predict_image(image, shrink=5)
    with pytest.raises(ValueError, match=r'confs_threshold must be in \[0, 1\], got 1.5'):
        mobile_detector.face_detection(images=[image], confs_threshold=1.5)
    # face_detection's defaults are the config's, as predict_image's are
    assert mobile_detector.face_detection(images=[image]) == [mobile_detector.predict_image(image, path='ndarray_0')
                                                              .to_hub_dict()]
    raw = load_builtin_config('pyramidbox_lite_mobile').to_dict()
    raw['defaults']['shrink'] = 9.0
    with pytest.raises(ConfigError, match='shrink must be in'):
        ModelConfig.from_dict(raw)


def test_results_type(mobile_detector, tmp_path):
    image = cv2.imread(str(REFERENCE_IMAGES[0]))
    result = mobile_detector(image)
    n = len(result.faces)
    assert n > 0
    df = result.to_df()
    assert len(df) == n and list(df['label']) == [f.label for f in result.faces]
    assert [f['left'] for f in json.loads(result.to_json())['faces']] == [f.left for f in result.faces]
    drawn = result.plot()
    assert drawn.shape == image.shape and (drawn != image).any()
    result.save(tmp_path / 'a.jpg')
    assert cv2.imread(str(tmp_path / 'a.jpg')).shape == image.shape
    result.save(tmp_path / 'a.json')
    assert len(json.loads((tmp_path / 'a.json').read_text())['faces']) == n
    with pytest.raises(ValueError, match='use an image suffix'):
        result.save(tmp_path / 'a.txt')


def test_call_on_a_path_a_folder_and_a_list(mobile_detector, tmp_path):
    folder = tmp_path / 'images'
    folder.mkdir()
    for p in REFERENCE_IMAGES[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / 'broken.jpg').write_bytes(b'not an image')
    one = mobile_detector(str(folder / REFERENCE_IMAGES[0].name))
    results = mobile_detector(folder)
    assert len(results) == 3 and len(results.errors) == 1 and 'broken.jpg' in results.errors[0]
    assert results[0].to_hub_dict()['data'] == one.to_hub_dict()['data']
    assert len(results.to_df()) == sum(len(r.faces) for r in results)
    mixed = mobile_detector([cv2.imread(str(REFERENCE_IMAGES[1])), str(folder / REFERENCE_IMAGES[1].name)])
    assert mixed[0].to_hub_dict()['data'] == mixed[1].to_hub_dict()['data']
    # predict_image takes a path as well as an array
    assert mobile_detector.predict_image(str(folder / REFERENCE_IMAGES[0].name)).to_hub_dict() == one.to_hub_dict()


def test_batch_with_reader_thread_keeps_order_and_results(mobile_detector):
    paths = [str(p) for p in REFERENCE_IMAGES[:4]]
    batch = [r.to_hub_dict() for r in mobile_detector.predict_paths(paths, prefetch=2)]
    assert batch == [mobile_detector.predict_image(p).to_hub_dict() for p in paths]


def test_multi_scale_runs_the_official_shrinks_only(mobile_detector, monkeypatch):
    image = cv2.imread(str(REFERENCE_IMAGES[0]))
    seen = []
    detect = mobile_detector.detect

    def recording(img, shrink=None, confs_threshold=None):
        seen.append(shrink)
        return detect(img, shrink, confs_threshold)
    monkeypatch.setattr(mobile_detector, 'detect', recording)
    result = mobile_detector.predict_image(image, shrink=0.5, use_multi_scale=True)
    assert seen == [0.3, 0.6, 0.9]
    assert all(f.face_score >= mobile_detector.config.defaults.confs_threshold for f in result.faces)


def test_box_voting_as_the_official_bbox_vote():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [100, 100, 110, 110]], float)
    scores = np.array([0.9, 0.8, 0.95, 0.7])
    merged, merged_scores = postprocess.box_voting(boxes, scores, 0.3)
    # the lone box at 50 is dropped (seen once), the pair is averaged by score, the last lone box is kept
    np.testing.assert_allclose(merged[0], (boxes[0] * 0.9 + boxes[1] * 0.8) / 1.7)
    np.testing.assert_allclose(merged_scores, [0.9, 0.7], rtol=1e-6)
    np.testing.assert_allclose(merged[1], boxes[3])


def test_no_import_cycle_between_registry_pipeline_and_hub_module():
    code = ('import sys; import maskhub.inference.registry, maskhub.inference.hub_module; '
            'assert "maskhub.inference.pipeline" not in sys.modules, "registry/hub_module import the pipeline"; '
            'import maskhub.inference.pipeline as p; assert "maskhub.inference.loader" not in sys.modules')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=REPO)


def test_input_scale_reads_the_image_at_that_many_times_the_shrink(tmp_path, example_images):
    """The shipped server reads the image at twice the caller's shrink: at shrink 0.5 its faces are those
    of the same network and weights without input_scale at shrink 1.0, in the same image pixels."""
    import shutil
    import yaml
    from maskhub import MaskDetector
    from maskhub.inference.registry import resolve_model_dir
    server = MaskDetector('server', threads=2)
    assert server.config.detector.input_scale == 2.0
    plain_dir = tmp_path / 'server_plain'
    shutil.copytree(resolve_model_dir('server'), plain_dir)
    raw = yaml.safe_load((plain_dir / 'model.yml').read_text())
    del raw['detector']['input_scale']
    (plain_dir / 'model.yml').write_text(yaml.safe_dump(raw, sort_keys=False))
    plain = MaskDetector(str(plain_dir), threads=2)
    image = cv2.imread(str(example_images[0]))
    prep = server.preprocess(image, 0.5)
    assert prep.input_hw == (image.shape[0], image.shape[1]) and prep.shrink == 0.5
    boxes, scores = server.detect(image, 0.5, 0.5)
    plain_boxes, plain_scores = plain.detect(image, 1.0, 0.5)
    assert len(boxes) > 0
    np.testing.assert_array_equal(boxes, plain_boxes)
    np.testing.assert_allclose(scores, plain_scores, rtol=1e-5)


def test_two_passes_fuse_matched_faces_and_halve_the_others():
    a = np.array([[0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.6, 0.6]], np.float32)
    b = np.array([[0.11, 0.1, 0.21, 0.2], [0.8, 0.8, 0.9, 0.9]], np.float32)
    boxes, scores = postprocess.fuse_two_passes(a, np.array([0.9, 0.6]), b, np.array([0.7, 0.8]))
    assert len(boxes) == 4
    np.testing.assert_allclose(scores, [0.8, 0.3, 0.8, 0.4], rtol=1e-6)      # pair: mean; alone: half
    np.testing.assert_allclose(boxes[0], (a[0] * 0.9 + b[0] * 0.7) / 1.6, rtol=1e-5)
    np.testing.assert_allclose(boxes[1], a[1])
    empty, none = postprocess.fuse_two_passes(a[:0], np.zeros(0), b[:0], np.zeros(0))
    assert empty.shape == (0, 4) and none.shape == (0,)


def test_flip_test_finds_on_the_mirrored_photo_the_mirrored_faces(tmp_path, example_images):
    """With ``flip_test`` the detector also runs on the mirrored input and both passes are fused, so the
    faces of a mirrored photo are those of the photo, mirrored (within the pixel rounding); without it the
    model stays as it was, and the config round-trips the option."""
    import shutil
    import yaml
    from conftest import real_images
    from maskhub import MaskDetector
    from maskhub.inference.registry import resolve_model_dir
    model_dir = tmp_path / 'mobile_flip'
    shutil.copytree(resolve_model_dir('mobile'), model_dir)
    raw = yaml.safe_load((model_dir / 'model.yml').read_text())
    raw['detector']['flip_test'] = True
    (model_dir / 'model.yml').write_text(yaml.safe_dump(raw))
    flip = MaskDetector(str(model_dir), backend='paddle', threads=2)
    assert flip.config.detector.flip_test and ModelConfig.from_dict(flip.config.to_dict()).detector.flip_test
    assert not load_builtin_config('pyramidbox_lite_mobile').detector.flip_test
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    heads = flip.infer(flip.preprocess(image, 0.5).tensor)
    assert len(heads) == 5 and heads[3].shape == heads[0].shape
    boxes, scores = flip.detect(image, 0.5, 0.3)
    m_boxes, m_scores = flip.detect(np.ascontiguousarray(image[:, ::-1]), 0.5, 0.3)
    assert len(boxes) >= 3 and len(m_boxes) == len(boxes)
    width = image.shape[1]
    mirrored_back = np.stack([width - m_boxes[:, 2], m_boxes[:, 1], width - m_boxes[:, 0], m_boxes[:, 3]], 1)
    order, m_order = np.lexsort(boxes.T[::-1]), np.lexsort(mirrored_back.T[::-1])
    np.testing.assert_allclose(mirrored_back[m_order], boxes[order], atol=2)
    np.testing.assert_allclose(np.sort(m_scores), np.sort(scores), atol=1e-4)
    # at a high threshold each pass is cut at 2 * threshold - 1 before fusion: the same faces as fusing every
    # box above the config's floor and keeping those above the threshold afterwards
    prep = flip.preprocess(image, 0.5)
    all_boxes, all_scores = flip.postprocess(heads, prep, 0.01)
    for threshold in (0.6, 0.8):        # cutting each pass at the threshold itself loses a face at one of them
        cut_boxes, cut_scores = flip.postprocess(heads, prep, threshold)
        assert 0 < len(cut_scores) < (all_scores > 0.3).sum()
        np.testing.assert_array_equal(cut_boxes, all_boxes[all_scores > threshold])
        np.testing.assert_allclose(cut_scores, all_scores[all_scores > threshold], rtol=1e-6)


def test_pairwise_iou_is_iou_one_to_many_row_by_row():
    rng = np.random.default_rng(0)
    corners = [np.sort(rng.random((n, 2, 2)), axis=1).reshape(n, 4)[:, [0, 2, 1, 3]] for n in (7, 5)]
    a, b = corners                                              # x1 <= x2, y1 <= y2; some pairs do not overlap
    want = np.stack([postprocess.iou_one_to_many(box, b) for box in a])
    assert (want == 0).any() and (want > 0).any()
    np.testing.assert_allclose(postprocess.pairwise_iou(a, b), want)


def test_nms_box_voting_averages_the_suppressed_near_duplicates():
    boxes = np.array([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.22, 0.22], [0.5, 0.5, 0.6, 0.6]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    keep = postprocess.nms(boxes, scores, postprocess.NMSParams(0.0, 10, 0.3, 10))
    assert keep.tolist() == [0, 2]
    np.testing.assert_array_equal(postprocess.vote_boxes(boxes, scores, keep, 0.0), boxes[keep])
    voted = postprocess.vote_boxes(boxes, scores, keep, 0.5)
    np.testing.assert_allclose(voted[0], (0.9 * boxes[0] + 0.6 * boxes[1]) / 1.5, rtol=1e-6)
    np.testing.assert_allclose(voted[1], boxes[2])                    # nothing overlaps it: unchanged


def test_box_vote_iou_is_checked_round_trips_and_moves_boxes_only(example_images):
    """On a real photo, voting keeps the same faces with the same scores and moves their boxes by a few pixels."""
    from dataclasses import replace
    from conftest import real_images
    from lite_export.app_config import detector_section
    from maskhub import MaskDetector
    raw = load_builtin_config('pyramidbox_lite_mobile').to_dict()
    assert 'box_vote_iou' not in raw['detector']['nms']                # the official model's config is unchanged
    raw['detector']['nms']['box_vote_iou'] = 1.5
    with pytest.raises(ConfigError, match='box_vote_iou'):
        ModelConfig.from_dict(raw)
    raw['detector']['nms']['box_vote_iou'] = 0.5
    config = ModelConfig.from_dict(raw)
    assert ModelConfig.from_dict(config.to_dict()).detector.nms.box_vote_iou == 0.5
    assert detector_section(config)['nms']['box_vote_iou'] == 0.5
    mobile = MaskDetector('mobile', threads=2)
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    prep = mobile.preprocess(image, 0.5)
    heads = mobile.infer(prep.tensor)
    boxes, scores = mobile.postprocess(heads, prep, 0.3)
    voted, voted_scores = mobile.postprocess(heads, prep, 0.3, replace(mobile.config.detector.nms, box_vote_iou=0.5))
    assert len(boxes) >= 3
    np.testing.assert_array_equal(voted_scores, scores)
    assert np.abs(voted - boxes).max() <= 0.25 * (boxes[:, 2:] - boxes[:, :2]).max() and (voted != boxes).any()
