"""Networks, priors, config and registry."""
import numpy as np
import paddle
import pytest

from maskhub.config import ModelConfig, load_builtin_config
from maskhub.inference.registry import ModelNotFound, resolve_model_dir
from maskhub.models import build_classifier, build_detector
from maskhub.models.priors import density_priors, feature_sizes, num_priors


@pytest.mark.parametrize('name', ['pyramidbox_lite_mobile', 'pyramidbox_lite_crowd', 'pyramidbox_lite_crowd_context',
                                  'pyramidbox_lite_server', 'pyramidbox_lite_server_two_scale',
                                  'pyramidbox_lite_server_crowd', 'pyramidbox_lite_server_crowd_two_scale',
                                  'pyramidbox_lite_server_crowd_2x_input',
                                  'pyramidbox_lite_server_crowd_2x_input_two_scale', 'pyramidbox_lite_crowd_fullres',
                                  'pyramidbox_lite_crowd_separable', 'pyramidbox_lite_crowd_separable_wide'])
def test_detector_outputs_one_row_per_prior(name):
    config = load_builtin_config(name)
    detector = build_detector(config.detector)
    detector.eval()
    h, w = 75, 101                      # odd sizes exercise the ceil-division of feature maps
    with paddle.no_grad():
        loc, conf, landmarks = detector(paddle.rand([2, 3, h, w]))
    p = num_priors(h, w, config.detector.prior_box)
    assert tuple(loc.shape) == (2, p, 4) and tuple(conf.shape) == (2, p, 2) and tuple(landmarks.shape) == (2, p, 10)
    assert density_priors(h, w, config.detector.prior_box).shape == (p, 4)


SERVER_CONFIGS = [('pyramidbox_lite_server', 'pyramidbox_lite_mobile'),
                  ('pyramidbox_lite_server_two_scale', 'pyramidbox_lite_mobile'),
                  ('pyramidbox_lite_server_crowd', 'pyramidbox_lite_crowd'),
                  ('pyramidbox_lite_server_crowd_two_scale', 'pyramidbox_lite_crowd'),
                  ('pyramidbox_lite_server_crowd_2x_input', 'pyramidbox_lite_crowd'),
                  ('pyramidbox_lite_server_crowd_2x_input_two_scale', 'pyramidbox_lite_crowd')]


@pytest.mark.parametrize('name, base', SERVER_CONFIGS)
def test_server_detector_shares_its_base_network_weights(name, base):
    base_state = build_detector(load_builtin_config(base).detector).state_dict()
    server = build_detector(load_builtin_config(name).detector).state_dict()
    shared = [k for k in base_state if k in server and tuple(server[k].shape) == tuple(base_state[k].shape)]
    landmark_convs = [k for k in base_state if '.landmarks.' in k]
    box_only = not load_builtin_config(name).detector.landmark_heads
    assert len(shared) == len(server) == len(base_state) - (len(landmark_convs) if box_only else 0)


@pytest.mark.parametrize('name, base', SERVER_CONFIGS)
def test_server_is_its_base_network_on_an_image_pyramid(name, base):
    """Server rows = base-network rows on each scale of the input, largest first: 2x-upsampled (half the
    strides, half-size anchors), the input, 2x2- and 4x4-average-pooled; its priors for the input size line
    up with the priors of each scale's run."""
    import paddle.nn.functional as F
    base_cfg = load_builtin_config(base).detector
    server_cfg = load_builtin_config(name).detector
    paddle.seed(1)
    base_net = build_detector(base_cfg)
    server = build_detector(server_cfg)
    server.set_state_dict(base_net.state_dict())
    base_net.eval(), server.eval()
    h, w = 48, 64
    x = paddle.rand([1, 3, h, w])
    inputs = {2.0: F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False), 1.0: x,
              0.5: F.avg_pool2d(x, 2, stride=2), 0.25: F.avg_pool2d(x, 4, stride=4)}
    n = len(base_cfg.prior_box)
    assert server.scales == tuple(base_cfg.prior_box[0][0] / stride for stride, _ in server_cfg.prior_box[::n])
    with paddle.no_grad():
        per_scale = [base_net(inputs[scale]) for scale in server.scales]
        both = server(x)
    for i in range(3 if server_cfg.landmark_heads else 2):      # box-only heads: landmarks are zeros
        np.testing.assert_allclose(both[i].numpy(), np.concatenate([o[i].numpy() for o in per_scale], axis=1),
                                   rtol=1e-5, atol=1e-5)
    server_priors, start = density_priors(h, w, server_cfg.prior_box), 0
    for scale in server.scales:
        own = density_priors(int(h * scale), int(w * scale), base_cfg.prior_box)
        np.testing.assert_allclose(server_priors[start:start + len(own)], own, atol=1e-6)
        start += len(own)
    assert start == len(server_priors)


@pytest.mark.parametrize('name, strides', [('pyramidbox_lite_server', (4, 16)),
                                            ('pyramidbox_lite_server_crowd', (2, 4, 8, 4, 8, 32)),
                                            ('pyramidbox_lite_server_crowd', (2, 4, 8, 2, 4, 8))])
def test_server_config_must_group_its_levels_by_scale(name, strides):
    raw = load_builtin_config(name).to_dict()
    raw['detector']['prior_box'] = [{'stride': s, 'sizes': [8, 16]} for s in strides]
    with pytest.raises(ValueError, match='image pyramid'):
        build_detector(ModelConfig.from_dict(raw).detector)


def test_mobile_config_must_have_the_official_strides():
    raw = load_builtin_config('pyramidbox_lite_mobile').to_dict()
    raw['detector']['prior_box'] = raw['detector']['prior_box'][::-1]
    with pytest.raises(ValueError, match=r'strides \(8, 16\)'):
        build_detector(ModelConfig.from_dict(raw).detector)


def test_classifier_shape():
    classifier = build_classifier(load_builtin_config('pyramidbox_lite_mobile').classifier)
    classifier.eval()
    with paddle.no_grad():
        assert tuple(classifier(paddle.rand([3, 3, 128, 128])).shape) == (3, 2)


def test_feature_sizes_round_up():
    assert feature_sizes(113, 200, [8, 16]) == [(15, 25), (8, 13)]
    assert feature_sizes(113, 200, [4, 8, 16]) == [(29, 50), (15, 25), (8, 13)]


def test_priors_are_clamped_and_ordered():
    priors = density_priors(16, 16, [(8, (8.0, 16.0, 32.0))])
    assert priors.shape == (12, 4) and priors.min() >= 0 and priors.max() <= 1
    np.testing.assert_allclose(priors[0], [0, 0, 0.5, 0.5])            # cell (0,0), size 8: (0..8)/16
    np.testing.assert_allclose(priors[2], [0, 0, 1, 1])                # size 32 clamped


@pytest.mark.parametrize('name', ['pyramidbox_lite_server', 'pyramidbox_lite_crowd_context'])
def test_config_round_trip(tmp_path, name):
    config = load_builtin_config(name)
    config.to_yaml(tmp_path / 'model.yml')
    assert ModelConfig.from_yaml(tmp_path / 'model.yml') == config


def test_config_rejects_unknown_keys():
    raw = load_builtin_config('pyramidbox_lite_mobile').to_dict()
    raw['detector']['anchor_sizes'] = [1]
    with pytest.raises(ValueError, match='unknown detector keys'):
        ModelConfig.from_dict(raw)


def test_registry_names_and_errors(tmp_path):
    assert (resolve_model_dir('mobile') / 'detector.pdmodel').exists()
    with pytest.raises(ModelNotFound, match='unknown model'):
        resolve_model_dir('no_such_model')
    with pytest.raises(ModelNotFound):
        resolve_model_dir(tmp_path)


def test_crowd_detector_adds_a_stride4_level_to_the_official_network():
    """mobile_crowd = official levels unchanged + a stride-4 level in front: with the official weights loaded,
    its stride-8/16 rows equal the mobile network's, and the stride-4 rows sit on the stride-4 prior grid."""
    mobile_cfg, crowd_cfg = load_builtin_config('pyramidbox_lite_mobile'), load_builtin_config('pyramidbox_lite_crowd')
    assert crowd_cfg.detector.prior_box[1:] == mobile_cfg.detector.prior_box
    assert crowd_cfg.detector.prior_box[0][0] == 4 and max(crowd_cfg.detector.prior_box[0][1]) <= 8
    assert crowd_cfg.defaults == mobile_cfg.defaults             # _BASE_: the defaults come from the mobile config
    paddle.seed(0)
    mobile, crowd = build_detector(mobile_cfg.detector), build_detector(crowd_cfg.detector)
    crowd.set_state_dict(mobile.state_dict())
    assert set(mobile.state_dict()) < set(crowd.state_dict())
    mobile.eval(), crowd.eval()
    h, w = 90, 122                     # H/4 odd (23 rows): the upsampled stride-8 map must be cut to fit
    x = paddle.rand([1, 3, h, w])
    with paddle.no_grad():
        m_loc, m_conf, _ = mobile(x)
        c_loc, c_conf, c_lm = crowd(x)
    fine = num_priors(h, w, crowd_cfg.detector.prior_box[:1])
    assert fine == 23 * 31 * 2 and c_loc.shape[1] == fine + m_loc.shape[1]
    np.testing.assert_allclose(c_loc.numpy()[:, fine:], m_loc.numpy(), atol=1e-5)
    np.testing.assert_allclose(c_conf.numpy()[:, fine:], m_conf.numpy(), atol=1e-5)
    assert float(paddle.abs(c_lm[:, :fine]).max()) == 0.0     # box-only head
    priors = density_priors(h, w, crowd_cfg.detector.prior_box)[:fine]
    centres = (priors[:, :2] + priors[:, 2:]) / 2 * np.float32([w, h])
    cell = (5 * 31 + 6) * 2                                    # row 5, column 6: two anchors, 4 and 8 px
    np.testing.assert_allclose(centres[cell:cell + 3], [[26, 22], [26, 22], [30, 22]], atol=1e-4)
    sides = (priors[cell:cell + 2, 2] - priors[cell:cell + 2, 0]) * w
    np.testing.assert_allclose(sides, [4, 8], atol=1e-4)


@pytest.mark.parametrize('name', ['pyramidbox_lite_crowd', 'pyramidbox_lite_crowd_context'])
def test_crowd_detector_compute_is_within_one_and_a_half_mobile(name):
    macs = {n: paddle.flops(build_detector(load_builtin_config(n).detector), [1, 3, 240, 320])
            for n in ('pyramidbox_lite_mobile', name)}
    assert 1.0 < macs[name] / macs['pyramidbox_lite_mobile'] <= 1.5, macs


def test_context_blocks_start_as_the_identity_and_then_change_the_stride4_level():
    """The stride-4 context blocks are new layers whose pointwise conv starts at zero: a crowd network with them
    gives exactly the outputs of the one without (so round-3 weights load as a starting point); once a block's
    weights move, only the stride-4 rows change."""
    plain_cfg, context_cfg = load_builtin_config('pyramidbox_lite_crowd'), load_builtin_config('pyramidbox_lite_crowd_context')
    assert context_cfg.detector.context_blocks == 4 and plain_cfg.detector.context_blocks == 0
    assert context_cfg.detector.prior_box == plain_cfg.detector.prior_box
    paddle.seed(1)
    plain, context = build_detector(plain_cfg.detector), build_detector(context_cfg.detector)
    new = set(context.state_dict()) - set(plain.state_dict())
    assert len(new) == 16 and all(k.startswith('fusion4.context.') for k in new)
    context.set_state_dict(plain.state_dict())
    plain.eval(), context.eval()
    h, w = 90, 122
    x = paddle.rand([1, 3, h, w])
    with paddle.no_grad():
        before = [t.numpy() for t in plain(x)]
        np.testing.assert_array_equal(context(x)[0].numpy(), before[0])
        np.testing.assert_array_equal(context(x)[1].numpy(), before[1])
        pointwise = context.fusion4.context[2].pointwise.weight
        pointwise.set_value(np.full(pointwise.shape, 0.05, np.float32))
        after = context(x)[1].numpy()
    fine = num_priors(h, w, context_cfg.detector.prior_box[:1])
    assert np.abs(after[:, :fine] - before[1][:, :fine]).max() > 1e-3
    np.testing.assert_array_equal(after[:, fine:], before[1][:, fine:])


def test_context_blocks_are_refused_where_they_cannot_be_built():
    for name in ('pyramidbox_lite_mobile', 'pyramidbox_lite_server'):
        raw = load_builtin_config(name).to_dict()
        raw['detector']['context_blocks'] = 2
        with pytest.raises(ValueError, match='context_blocks needs architecture PyramidBoxLiteCrowd'):
            build_detector(ModelConfig.from_dict(raw).detector)
    raw = load_builtin_config('pyramidbox_lite_crowd').to_dict()
    raw['detector']['context_blocks'] = -1
    with pytest.raises(ValueError, match='context_blocks must be >= 0'):
        ModelConfig.from_dict(raw)


def test_crowd_config_rejects_other_strides():
    raw = load_builtin_config('pyramidbox_lite_crowd').to_dict()
    raw['detector']['prior_box'] = raw['detector']['prior_box'][1:]
    with pytest.raises(ValueError, match='strides'):
        build_detector(ModelConfig.from_dict(raw).detector)


def test_input_scale_sizes_the_network_input_and_survives_the_model_yml(tmp_path):
    config = load_builtin_config('pyramidbox_lite_server_crowd_2x_input')
    assert config.detector.input_scale == 2.0 and config.detector.input_shrink(0.5) == 1.0
    assert load_builtin_config('pyramidbox_lite_server_crowd').detector.input_scale == 1.0
    config.to_yaml(tmp_path / 'model.yml')
    assert ModelConfig.from_yaml(tmp_path / 'model.yml').detector == config.detector
    raw = config.to_dict()
    raw['detector']['input_scale'] = 0
    with pytest.raises(ValueError, match='input_scale'):
        ModelConfig.from_dict(raw)


def test_full_resolution_stem_compute_is_within_one_and_a_half_mobile():
    """At the caller's 320x240 (a 640x480 frame at shrink 0.5) the full-resolution network reads 640x480 but
    costs only its stem more than mobile_crowd: above mobile_crowd, at most 1.5x the official network."""
    from maskhub.evaluation.compute import detector_gmac
    gmac = {n: detector_gmac(load_builtin_config(n).detector)
            for n in ('pyramidbox_lite_mobile', 'pyramidbox_lite_crowd', 'pyramidbox_lite_crowd_fullres')}
    assert load_builtin_config('pyramidbox_lite_crowd_fullres').detector.input_scale == 2.0
    assert gmac['pyramidbox_lite_crowd'] < gmac['pyramidbox_lite_crowd_fullres'] <= 1.5 * gmac['pyramidbox_lite_mobile']


@pytest.mark.parametrize('name', ['pyramidbox_lite_crowd_fullres', 'pyramidbox_lite_server_crowd_2x_input'])
def test_box_only_heads_give_the_same_boxes_and_scores_for_less_compute(name, tmp_path, example_images):
    """The shipped mobile_crowd weights in the network with and without landmark convs: on a real photo the same
    loc and conf (landmarks zeros), fewer multiply-adds; the key survives the model.yml."""
    import dataclasses
    import cv2
    from conftest import REPO, real_images
    from maskhub.evaluation.compute import detector_gmac
    from maskhub.inference.preprocess import detector_tensor
    box_only = load_builtin_config(name).detector
    assert not box_only.landmark_heads
    with_landmarks = dataclasses.replace(box_only, landmark_heads=True)
    state = paddle.load(str(REPO / 'hub_modules' / 'pyramidbox_lite_mobile_crowd_mask' / 'model' / 'detector.pdparams'))
    if name.startswith('pyramidbox_lite_server'):       # the server's base network has no full-resolution stem
        state = paddle.load(str(REPO / 'hub_modules' / 'pyramidbox_lite_server_mask' / 'model' / 'detector.pdparams'))
    nets = [build_detector(d) for d in (with_landmarks, box_only)]
    for net in nets:
        net.set_state_dict(state)
        net.eval()
    assert not [k for k in nets[1].state_dict() if '.landmarks.' in k]
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    x = paddle.to_tensor(detector_tensor(image, 0.5 * box_only.input_scale, box_only.mean_bgr, box_only.std))
    with paddle.no_grad():
        (loc_a, conf_a, marks_a), (loc_b, conf_b, marks_b) = nets[0](x), nets[1](x)
    np.testing.assert_array_equal(loc_a.numpy(), loc_b.numpy())
    np.testing.assert_array_equal(conf_a.numpy(), conf_b.numpy())
    assert float(paddle.abs(marks_a).max()) > 0 and float(paddle.abs(marks_b).max()) == 0
    assert detector_gmac(box_only) < 0.95 * detector_gmac(with_landmarks)
    config = load_builtin_config(name)
    config.to_yaml(tmp_path / 'model.yml')
    assert ModelConfig.from_yaml(tmp_path / 'model.yml').detector.landmark_heads is False


def test_full_resolution_stem_converted_from_mobile_crowd_detects_what_it_detects_on_the_averaged_image(example_images):
    """A trained half-resolution mobile_crowd (round 3's) converted (finetune.full_resolution_init) and run on a real photo gives the
    half-resolution network's outputs on the 2x2-averaged photo (the detail branch starts at zero), at two even
    sizes (one not a multiple of 4: the stem pads as two stride-2 convs do); once the detail branch's weights move, the outputs change."""
    import cv2
    import paddle.nn.functional as F
    from conftest import real_images
    from finetune.full_resolution_init import full_resolution_state
    from conftest import REPO
    from maskhub.inference.preprocess import detector_tensor
    weights = REPO / 'finetune' / 'weights' / 'mobile_crowd_round3_detector.pdparams'
    half = build_detector(load_builtin_config('pyramidbox_lite_crowd').detector)
    half.set_state_dict(paddle.load(str(weights)))
    full = build_detector(load_builtin_config('pyramidbox_lite_crowd_fullres').detector)
    full.set_state_dict(full_resolution_state(weights))
    half.eval(), full.eval()
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    detector = load_builtin_config('pyramidbox_lite_crowd_fullres').detector
    x = paddle.to_tensor(detector_tensor(image, 1.0, detector.mean_bgr, detector.std))
    for h, w in ((x.shape[2] // 2 * 2, x.shape[3] // 2 * 2), (x.shape[2] // 2 * 2 - 2, x.shape[3] // 2 * 2 - 6)):
        crop = x[:, :, :h, :w]
        with paddle.no_grad():
            want, got = half(F.avg_pool2d(crop, 2, stride=2)), full(crop)
        assert got[0].shape == want[0].shape
        assert got[0].shape[1] == num_priors(h, w, detector.prior_box)
        for a, b in zip(got[:2], want[:2]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
    detail_out = full.backbone.stem1.detail_out.weight
    detail_out.set_value(np.full(detail_out.shape, 0.05, np.float32))
    with paddle.no_grad():
        assert float(paddle.abs(full(crop)[1] - want[1]).max()) > 1e-3


def test_full_resolution_init_refuses_weights_of_another_network(tmp_path):
    from finetune.full_resolution_init import full_resolution_state
    paddle.save({'backbone.stem1.0.weight': paddle.zeros([16, 3, 3, 3]), 'backbone.stem1.0.bias': paddle.zeros([16])},
                str(tmp_path / 'partial.pdparams'))
    with pytest.raises(ValueError, match='not PyramidBoxLiteCrowd weights'):
        full_resolution_state(tmp_path / 'partial.pdparams')


def test_separable_network_reads_the_photo_at_full_size_within_one_and_a_half_mobile():
    from maskhub.evaluation.compute import detector_gmac
    config = load_builtin_config('pyramidbox_lite_crowd_separable').detector
    assert config.input_scale == 2.0 and config.prior_box == load_builtin_config('pyramidbox_lite_crowd').detector.prior_box
    gmac = detector_gmac(config)
    assert 1.2 < gmac / detector_gmac(load_builtin_config('pyramidbox_lite_mobile').detector) <= 1.5, gmac


def test_separable_network_at_full_rank_computes_the_dense_network_on_a_real_photo(example_images):
    """``state_from_dense`` folds the CReLU doublings and factorises every 3x3 conv: at rank 9 (and the dense
    network's 64-channel stride-4 level) that is exact, so the separable network gives the trained dense one's
    outputs; at the shipped ranks it is only a start (the outputs differ)."""
    import cv2
    from conftest import REPO, real_images
    from maskhub.inference.preprocess import detector_tensor
    from maskhub.models.pyramidbox_lite_separable import PyramidBoxLiteCrowdSeparable
    weights = paddle.load(str(REPO / 'finetune' / 'weights' / 'server_round8_detector.pdparams'))
    dense = build_detector(load_builtin_config('pyramidbox_lite_crowd').detector)
    dense.set_state_dict(weights)
    exact = PyramidBoxLiteCrowdSeparable(neck_channels=64, stem_rank=9, block_rank=9, head_rank=9)
    state = exact.state_from_dense(weights)
    assert sorted(state) == sorted(exact.state_dict())
    exact.set_state_dict(state)
    shipped = PyramidBoxLiteCrowdSeparable()
    shipped.set_state_dict(shipped.state_from_dense(weights))
    for net in (dense, exact, shipped):
        net.eval()
    detector = load_builtin_config('pyramidbox_lite_crowd').detector
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    x = paddle.to_tensor(detector_tensor(image, 0.5, detector.mean_bgr, detector.std))
    with paddle.no_grad():
        want, got, approx = dense(x), exact(x), shipped(x)
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3)
    assert float(paddle.abs(approx[1] - want[1]).max()) > 0.1


def test_separable_init_leaves_only_the_narrower_stride4_level_fresh_and_refuses_foreign_weights(tmp_path):
    from conftest import REPO
    from finetune.separable_init import separable_state
    state, fresh = separable_state(REPO / 'finetune' / 'weights' / 'server_round8_detector.pdparams')
    assert fresh and all(k.startswith(('fusion4.', 'head4.')) for k in fresh)
    assert float(state['head4.conf.pointwise.weight'].abs().sum()) > 0
    paddle.save({'backbone.stem1.0.weight': paddle.zeros([16, 3, 3, 3])}, str(tmp_path / 'partial.pdparams'))
    with pytest.raises(ValueError, match='not PyramidBoxLiteCrowd weights'):
        separable_state(tmp_path / 'partial.pdparams')


def network_with_state(config_name, state):
    """(the built-in config's detector network with ``state`` loaded, in eval mode; its detector config)."""
    config = load_builtin_config(config_name).detector
    network = build_detector(config)
    network.set_state_dict(state)
    network.eval()
    return network, config


def real_photo_input(example_images, detector_config, shrink=1.0):
    """The network input of the first real example photo at ``shrink``, as a paddle tensor."""
    import cv2
    from conftest import real_images
    from maskhub.inference.preprocess import detector_tensor
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    return paddle.to_tensor(detector_tensor(image, shrink, detector_config.mean_bgr, detector_config.std))


def test_wide_separable_network_adds_a_large_face_level_that_starts_as_the_stride16_head_on_a_real_photo(
        example_images):
    """``finetune.wide_init``: round 12's weights plus a stride-32 head copied from the stride-16 one. The three
    levels the separable network has give its outputs unchanged, the new level adds priors of 128 and 192 px,
    and the whole stays within 1.5x the official network's compute."""
    from conftest import REPO
    from finetune.wide_init import wide_state
    from maskhub.evaluation.compute import detector_gmac
    from maskhub.models.priors import level_rows
    weights = REPO / 'finetune' / 'checkpoints' / 'mobile_crowd_round12' / 'latest_weights.pdparams'
    state = wide_state([weights])
    np.testing.assert_array_equal(state['head32.conf.pointwise.weight'].numpy(),
                                  state['head16.conf.pointwise.weight'].numpy())
    narrow, _ = network_with_state('pyramidbox_lite_crowd_separable', paddle.load(str(weights)))
    wide, wide_config = network_with_state('pyramidbox_lite_crowd_separable_wide', state)
    x = real_photo_input(example_images, wide_config)
    with paddle.no_grad():
        (loc_n, conf_n, _), (loc_w, conf_w, _) = narrow(x), wide(x)
    h, w = x.shape[2:]
    shared = level_rows(h, w, wide_config.prior_box, [4, 8, 16])
    np.testing.assert_allclose(conf_w[:, shared].numpy(), conf_n.numpy(), atol=1e-5)
    assert conf_w.shape[1] - conf_n.shape[1] == num_priors(h, w, [wide_config.prior_box[-1]]) > 0
    assert wide_config.prior_box[-1] == (32, (128.0, 192.0))
    assert detector_gmac(wide_config) / detector_gmac(load_builtin_config('pyramidbox_lite_mobile').detector) <= 1.5
    with pytest.raises(ValueError, match='not PyramidBoxLiteCrowdSeparable weights'):
        wide.state_with_large_face_level(state)


def test_wide_context_network_starts_as_the_wide_network_on_a_real_photo_and_stays_within_budget(example_images,
                                                                                                 tmp_path):
    """``finetune.wide_init --context``: round 13's weights plus an identity-start context block before the stride-32
    head give round 13's outputs on every level; after a change to the block only the stride-32 rows move."""
    from conftest import REPO
    from finetune.wide_init import wide_context_state
    from maskhub.evaluation.compute import detector_gmac
    from maskhub.models.priors import level_rows
    weights = REPO / 'finetune' / 'checkpoints' / 'mobile_crowd_round13' / 'latest_weights.pdparams'
    state = wide_context_state([weights])
    wide, _ = network_with_state('pyramidbox_lite_crowd_separable_wide', paddle.load(str(weights)))
    context, context_config = network_with_state('pyramidbox_lite_crowd_separable_wide_context', state)
    x = real_photo_input(example_images, context_config)
    with paddle.no_grad():
        (_, conf_w, _), (_, conf_c, _) = wide(x), context(x)
        np.testing.assert_allclose(conf_c.numpy(), conf_w.numpy(), atol=1e-6)
        context.context32.up.weight.set_value(paddle.full(context.context32.up.weight.shape, 0.01))
        _, conf_moved, _ = context(x)
    h, w = x.shape[2:]
    shared = level_rows(h, w, context_config.prior_box, [4, 8, 16])
    np.testing.assert_allclose(conf_moved[:, shared].numpy(), conf_w[:, shared].numpy(), atol=1e-6)
    assert not np.allclose(conf_moved.numpy(), conf_w.numpy(), atol=1e-4)
    assert detector_gmac(context_config) / detector_gmac(load_builtin_config('pyramidbox_lite_mobile').detector) <= 1.5
    paddle.save(state, str(tmp_path / 'context.pdparams'))
    with pytest.raises(ValueError, match='not PyramidBoxLiteCrowdSeparableWide weights'):
        wide_context_state([tmp_path / 'context.pdparams'])
