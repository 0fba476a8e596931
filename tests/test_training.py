"""Matching, loss and a few optimisation steps of the detector (no real training)."""
import numpy as np
import paddle
import pytest

from conftest import REPO
from finetune.losses import hard_negative_mask, multibox_loss
from finetune.matching import IGNORE, NEGATIVE, POSITIVE, encode_boxes, match_priors
from maskhub.config import load_builtin_config
from maskhub.data.paths import datasets_dir
from maskhub.inference.postprocess import decode_boxes
from maskhub.models import build_detector
from maskhub.models.priors import density_priors

MOBILE = load_builtin_config('pyramidbox_lite_mobile').detector
needs_data = pytest.mark.skipif(not datasets_dir().exists(), reason='shared datasets not present (%s)' % datasets_dir())


def test_encode_inverts_decode():
    priors = density_priors(64, 96, MOBILE.prior_box)
    rng = np.random.default_rng(0)
    xs, ys = np.sort(rng.uniform(0, 1, (2, len(priors), 2)), axis=2)
    gt = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], 1).astype(np.float32)
    loc = encode_boxes(gt, priors, MOBILE.variances)
    np.testing.assert_allclose(decode_boxes(loc, priors, MOBILE.variances), gt, atol=1e-5)


def test_tiny_face_gets_an_anchor_and_ignored_face_is_excluded():
    priors = density_priors(128, 128, MOBILE.prior_box)
    tiny = np.float32([[50, 50, 53, 53]]) / 128            # 3 px: IoU with the 8 px priors is < 0.35
    crowd = np.float32([[10, 10, 40, 40]]) / 128
    labels, targets = match_priors(priors, np.concatenate([tiny, crowd]), [False, True], MOBILE.variances)
    pos = np.flatnonzero(labels == POSITIVE)
    assert len(pos) == 1
    np.testing.assert_allclose(decode_boxes(targets[pos], priors[pos], MOBILE.variances), tiny, atol=1e-5)
    assert (labels == IGNORE).sum() > 0 and (labels == NEGATIVE).sum() > len(priors) // 2


def test_hard_negatives_three_to_one():
    labels = np.zeros((2, 100), np.int64)
    labels[0, :5] = POSITIVE
    labels[1, :2] = IGNORE
    loss = np.random.default_rng(0).uniform(size=(2, 100))
    mask = hard_negative_mask(loss, labels, 3, min_negatives=4)
    assert mask[0].sum() == 15 and not mask[0, :5].any()
    assert mask[1].sum() == 4 and not mask[1, :2].any()
    assert loss[0][mask[0]].min() >= loss[0][~mask[0] & (labels[0] == NEGATIVE)].max()


def real_batch(size=192, count=2):
    from finetune.datasets import DetectorTrainBatches
    from maskhub.data.splits import mask_samples
    samples = mask_samples('val')[:count]
    return next(DetectorTrainBatches(samples, MOBILE, count, [size], seed=0).epoch(0, 1))


@needs_data
def test_loss_finite_positive():
    paddle.seed(0)
    det = build_detector(MOBILE)
    x, labels, targets = real_batch()
    total, cls_loss, loc_loss = multibox_loss(*det(paddle.to_tensor(x))[:2], labels, targets)
    for v in (total, cls_loss, loc_loss):
        assert np.isfinite(float(v)) and float(v) > 0


@needs_data
def test_few_steps_lower_the_loss():
    paddle.seed(0)
    det = build_detector(MOBILE)
    opt = paddle.optimizer.Adam(1e-3, parameters=det.parameters())
    x, labels, targets = real_batch()
    losses = []
    for _ in range(5):
        total, _, _ = multibox_loss(*det(paddle.to_tensor(x))[:2], labels, targets)
        losses.append(float(total))
        total.backward()
        opt.step()
        opt.clear_grad()
    assert losses[-1] < losses[0], losses


@needs_data
def test_source_repeat_counts():
    from finetune.datasets import load_samples
    once = load_samples(['wider'], 'val')
    weighted = load_samples({'wider': 2, 'mask': 1}, 'val')
    mask = load_samples(['mask'], 'val')
    assert len(weighted) == 2 * len(once) + len(mask)
    assert [s.path for s in weighted[:len(once)]] == [s.path for s in once]


def test_frozen_layers_do_not_move():
    from finetune.train import build_optimizer, freeze
    paddle.seed(0)
    det = build_detector(MOBILE)
    assert freeze(det, ['backbone.stem', 'backbone.block1']) > 0
    before = {k: v.numpy().copy() for k, v in det.state_dict().items()}
    opt, _ = build_optimizer(det, {'lr': 0.01, 'grad_clip': 10.0}, 10)
    x = paddle.to_tensor(np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32))
    loc, conf, _ = det(x)
    (loc.square().mean() + conf.square().mean()).backward()
    opt.step()
    after = det.state_dict()
    for name, value in before.items():
        moved = not np.array_equal(value, after[name].numpy())
        frozen = name.startswith(('backbone.stem', 'backbone.block1'))
        if frozen:
            assert not moved, name
    assert not np.array_equal(before['head8.conf.weight'], after['head8.conf.weight'].numpy())
    assert not np.array_equal(before['backbone.block3.conv1x1.0.weight'],
                              after['backbone.block3.conv1x1.0.weight'].numpy())


def test_new_layers_learn_at_a_multiple_of_the_base_rate():
    from finetune.train import build_optimizer, scale_learning_rates
    paddle.seed(0)
    det = build_detector(load_builtin_config('pyramidbox_lite_crowd').detector)
    assert scale_learning_rates(det, {'head4': 5, 'fusion4': 5}) == 10
    before = {k: v.numpy().copy() for k, v in det.state_dict().items()}
    opt, _ = build_optimizer(det, {'lr': 0.01, 'momentum': 0.0, 'weight_decay': 0.0}, 10)
    loc, conf, _ = det(paddle.rand([1, 3, 32, 32]))
    (loc.sum() + conf.sum()).backward()
    grads = {n: p.grad.numpy().copy() for n, p in det.named_parameters() if p.grad is not None}
    opt.step()
    after = det.state_dict()
    for name, factor in (('head4.conf.bias', 5), ('head8.conf.bias', 1)):
        np.testing.assert_allclose(before[name] - after[name].numpy(), 0.01 * factor * grads[name], rtol=1e-4, atol=1e-7)


def test_the_longest_matching_prefix_sets_the_learning_rate_factor():
    from finetune.train import scale_learning_rates
    det = build_detector(load_builtin_config('pyramidbox_lite_crowd_fullres_context').detector)
    scale_learning_rates(det, {'fusion4': 2, 'fusion4.context': 10})
    factors = {n: p.optimize_attr['learning_rate'] for n, p in det.named_parameters()}
    assert factors['fusion4.context.0.pointwise.weight'] == 10.0
    assert factors['fusion4.lateral.weight'] == 2.0
    assert factors['head8.conf.weight'] == 1.0


def test_upsample_check_maps_boxes_back_to_the_image(mobile_detector, example_images):
    import cv2
    from conftest import real_images
    from finetune.upsample_check import detect_shrunk
    from maskhub.evaluation.matching import box_iou
    image = cv2.imread(str(real_images(example_images, 1)[0]))
    plain, plain_scores = detect_shrunk(mobile_detector, image, 0.5, 1.0)
    assert len(plain) > 0
    up, up_scores = detect_shrunk(mobile_detector, image, 0.5, 2.0)
    assert up.max() <= max(image.shape[:2]) + 2
    # every confident face of the plain run is found again, at the same place, on the upsampled input
    iou = box_iou(plain[plain_scores >= 0.5].astype(np.float32), up[up_scores >= 0.5])
    assert iou.shape[0] > 0 and (iou.max(axis=1) > 0.5).all()


def test_identity_batchnorm_changes_nothing_until_trained_and_folds_back():
    from finetune.batchnorm import ConvBN, folded_state_dict, insert_identity_bn
    paddle.seed(0)
    plain, with_bn = build_detector(MOBILE), build_detector(MOBILE)
    with_bn.set_state_dict(plain.state_dict())
    assert insert_identity_bn(with_bn, ['backbone.block3']) == 7      # the 7 spatial convs, not the SE gates
    plain.eval(), with_bn.eval()
    x = paddle.rand([2, 3, 64, 96])
    with paddle.no_grad():
        for a, b in zip(plain(x), with_bn(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
        with_bn.train()                      # batch statistics move the running mean / variance
        for _ in range(3):
            with_bn(paddle.rand([2, 3, 64, 96]))
        with_bn.eval()
        moved = [l for l in with_bn.sublayers() if isinstance(l, ConvBN)][0]
        assert float(paddle.abs(moved.bn._mean).max()) > 0
        state = folded_state_dict(with_bn)
        assert sorted(state) == sorted(plain.state_dict())
        plain.set_state_dict(state)
        for a, b in zip(plain(x), with_bn(x)):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_config_base_chain_merges_overrides(tmp_path):
    from finetune.train import load_config
    (tmp_path / 'base.yml').write_text('name: a\ntask: detector\nmodel_config: m\n'
                                       'train: {lr: 0.1, sizes: [1, 2], freeze: [x]}\n')
    (tmp_path / 'child.yml').write_text('_BASE_: base.yml\nname: b\ntrain: {sizes: [3], seed: 4}\n')
    cfg = load_config(tmp_path / 'child.yml')
    assert cfg == {'name': 'b', 'task': 'detector', 'model_config': 'm',
                   'train': {'lr': 0.1, 'sizes': [3], 'freeze': ['x'], 'seed': 4}}


def tiny_train_config(tmp_path, iters=6, every=2, base='mobile_crowd_detector.yml'):
    """A shipped mobile_crowd config on 2 val images per source, a few 96 px iterations."""
    from maskhub.data.paths import REPO_ROOT
    path = tmp_path / 'tiny.yml'
    path.write_text('_BASE_: %s\nname: tiny\ndata: {train: [mask], val: [mask], val_images_per_source: 1}\n'
                    'train: {epochs: 2, iters_per_epoch: %d, checkpoint_every: %d, batch_size: 1, sizes: [96],'
                    ' warmup_iters: 0}\n' % (REPO_ROOT / 'finetune/configs' / base, iters, every))
    return path


def test_level_rows_are_the_prior_rows_of_the_chosen_levels():
    from maskhub.models.priors import level_rows, num_priors
    crowd = load_builtin_config('pyramidbox_lite_crowd').detector.prior_box
    n4, total = num_priors(64, 96, crowd[:1]), num_priors(64, 96, crowd)
    assert n4 == 16 * 24 * 2
    assert level_rows(64, 96, crowd, [4]) == slice(0, n4)
    assert level_rows(64, 96, crowd, [8, 16]) == slice(n4, total)
    assert level_rows(64, 96, crowd, [4, 8, 16]) == slice(0, total)
    for strides in ([4, 16], [32]):
        with pytest.raises(ValueError, match='not adjacent'):
            level_rows(64, 96, crowd, strides)


def test_compiled_frozen_forward_equals_dygraph_and_refuses_trainable_weights():
    from finetune.openvino_forward import CompiledForward
    paddle.seed(0)
    det = build_detector(load_builtin_config('pyramidbox_lite_crowd').detector)
    det.eval()
    with pytest.raises(ValueError, match='frozen weights'):
        CompiledForward(det.backbone, det.backbone.features)
    for p in det.backbone.parameters():
        p.stop_gradient = True
    compiled = CompiledForward(det.backbone, det.backbone.features)
    x = paddle.rand([2, 3, 70, 90])      # odd sizes: the stride-4 map is not twice the stride-8 one
    for got, want in zip(compiled(x), det.backbone.features(x)):
        assert got.shape == want.shape and got.stop_gradient
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


@needs_data
def test_stage2_trains_only_the_stride4_level_on_the_compiled_backbone(tmp_path):
    """The stage-2 config (loss on the stride-4 level, frozen backbone through OpenVINO): a few iterations move
    fusion4 / head4 and nothing official, and the loss is that of the stride-4 rows alone."""
    from finetune.train import load_config, train
    from maskhub.data.paths import REPO_ROOT
    cfg = load_config(tiny_train_config(tmp_path, iters=3, every=3, base='mobile_crowd_detector_stage2.yml'))
    cfg['train']['epochs'] = 1
    assert cfg['train']['frozen_runtime'] == 'openvino' and cfg['train']['loss_levels'] == [4]
    history = train(cfg, work_dir=tmp_path / 'run')
    assert len(history) == 1 and np.isfinite(history[0]['train_loss'])
    start = paddle.load(str(REPO_ROOT / cfg['init_weights']))
    end = paddle.load(str(tmp_path / 'run' / 'last.pdparams'))
    for name in ('head8.conf.weight', 'head16.loc.weight', 'backbone.stem1.0.weight', 'backbone.block3.conv1x1.0.weight'):
        np.testing.assert_array_equal(start[name].numpy(), end[name].numpy())
    for name in ('head4.conf.weight', 'fusion4.smooth.0.weight'):
        assert not np.array_equal(start[name].numpy(), end[name].numpy()), name


@needs_data
def test_stage3_trains_the_heads_and_keeps_the_compiled_backbone(tmp_path):
    """The stage-3 config (all three levels in the loss, backbone frozen and compiled): a few iterations move
    the stride-4 level and the official heads, never the backbone."""
    from finetune.train import load_config, train
    from maskhub.data.paths import REPO_ROOT
    cfg = load_config(tiny_train_config(tmp_path, iters=3, every=3, base='mobile_crowd_detector_stage3.yml'))
    cfg['train']['epochs'] = 1
    assert cfg['train']['frozen_runtime'] == 'openvino' and cfg['train']['loss_levels'] == [4, 8, 16]
    history = train(cfg, work_dir=tmp_path / 'run')
    assert len(history) == 1 and np.isfinite(history[0]['train_loss'])
    start = paddle.load(str(REPO_ROOT / cfg['init_weights']))
    end = paddle.load(str(tmp_path / 'run' / 'last.pdparams'))
    for name in ('backbone.stem1.0.weight', 'backbone.block3.conv1x1.0.weight', 'head8.landmarks.weight'):
        np.testing.assert_array_equal(start[name].numpy(), end[name].numpy())
    for name in ('head4.conf.weight', 'head8.conf.weight', 'head16.loc.weight'):
        assert not np.array_equal(start[name].numpy(), end[name].numpy()), name


@needs_data
def test_crowd_server_trains_every_level_of_both_paths_from_two_init_files(tmp_path):
    """The crowd-server config: init = mobile_crowd's detector with the round-2 server's block3 and heads laid
    over it (the later file wins); a few iterations on the two-scale graph (levels repeat strides across the
    scales) move block3, the heads and the stride-4 level, never the frozen stem."""
    from finetune.train import load_config, train
    from maskhub.data.paths import REPO_ROOT
    cfg = load_config(tiny_train_config(tmp_path, iters=2, every=2, base='server_crowd_detector.yml'))
    cfg['train']['epochs'] = 1
    crowd_init, server_init = (paddle.load(str(REPO_ROOT / p)) for p in cfg['init_weights'])
    assert 'loss_levels' not in cfg['train']
    history = train(cfg, work_dir=tmp_path / 'run')
    assert len(history) == 1 and np.isfinite(history[0]['train_loss'])
    end = paddle.load(str(tmp_path / 'run' / 'last.pdparams'))
    np.testing.assert_array_equal(end['backbone.stem1.0.weight'].numpy(), server_init['backbone.stem1.0.weight'].numpy())
    for name in ('backbone.block3.conv1x1.0.weight', 'head8.conf.weight', 'head4.conf.weight', 'fusion4.smooth.0.weight'):
        start = server_init if name in server_init else crowd_init
        assert not np.array_equal(start[name].numpy(), end[name].numpy()), name
        if name in server_init:          # started from the server's tensor, not mobile_crowd's
            between_inits = np.abs(server_init[name].numpy() - crowd_init[name].numpy()).max()
            assert np.abs(end[name].numpy() - start[name].numpy()).max() < between_inits / 2, name


def test_stage2_loss_is_the_multibox_loss_of_the_stride4_rows():
    from finetune.train import DetectorTask
    from maskhub.models.priors import level_rows
    crowd = load_builtin_config('pyramidbox_lite_crowd')
    task = DetectorTask.__new__(DetectorTask)     # only the forward / loss of the task, no datasets
    paddle.seed(0)
    task.model, task.model_config, task.teacher = build_detector(crowd.detector), crowd, None
    task.loss_levels, task.frozen_runtime, task.frozen_backbone = [4], 'dygraph', None
    x = np.random.default_rng(0).random((1, 3, 64, 64)).astype(np.float32)
    priors = density_priors(64, 64, crowd.detector.prior_box)
    labels, targets = match_priors(priors, np.float32([[0.2, 0.2, 0.3, 0.3], [0.4, 0.4, 0.9, 0.9]]),
                                   [False, False], crowd.detector.variances)
    rows = level_rows(64, 64, crowd.detector.prior_box, [4])
    total, _, _ = task.loss(task.model, (x, labels[None], targets[None]))
    loc, conf, _ = task.model(paddle.to_tensor(x))
    want, _, _ = multibox_loss(loc[:, rows], conf[:, rows], labels[None, rows], targets[None, rows])
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    full, _, _ = multibox_loss(loc, conf, labels[None], targets[None])
    assert float(full) != pytest.approx(float(want), rel=1e-3)


def test_compiled_backbone_gives_the_loss_of_the_dygraph_model_for_any_levels():
    """frozen_runtime openvino (backbone compiled, neck and heads in dygraph) is the same loss as the whole
    model in dygraph, for the stride-4 level alone and for all three levels (stage 3 trains the heads too),
    and the gradient reaches the official heads only when their levels are in the loss."""
    from finetune.train import DetectorTask, freeze
    crowd = load_builtin_config('pyramidbox_lite_crowd')
    paddle.seed(0)
    model = build_detector(crowd.detector)
    freeze(model, ['backbone'])
    model.eval()
    x = np.random.default_rng(0).random((2, 3, 64, 96)).astype(np.float32)
    priors = density_priors(64, 96, crowd.detector.prior_box)
    labels, targets = match_priors(priors, np.float32([[0.2, 0.2, 0.27, 0.3], [0.4, 0.3, 0.9, 0.95]]),
                                   [False, False], crowd.detector.variances)
    batch = (x, np.stack([labels] * 2), np.stack([targets] * 2))
    for levels in ([4], [4, 8, 16]):
        losses = {}
        for runtime in ('dygraph', 'openvino'):
            task = DetectorTask.__new__(DetectorTask)
            task.model, task.model_config, task.teacher = model, crowd, None
            task.loss_levels, task.frozen_runtime, task.frozen_backbone = levels, runtime, None
            total, _, _ = task.loss(model, batch)
            total.backward()
            losses[runtime] = float(total)
            head8_moved = model.head8.conf.weight.grad is not None and float(paddle.abs(model.head8.conf.weight.grad).sum()) > 0
            assert head8_moved == (8 in levels), (levels, runtime)
            assert float(paddle.abs(model.head4.conf.weight.grad).sum()) > 0
            model.clear_gradients()
        assert losses['openvino'] == pytest.approx(losses['dygraph'], rel=1e-4), levels


@needs_data
def test_resume_mid_epoch_continues_where_it_stopped(tmp_path, monkeypatch):
    """A run stopped after 3 of 6 iterations of epoch 1 and resumed gives the same weights as one that ran
    straight through: batches depend only on (seed, epoch, index), and the optimizer and LR state are restored."""
    from finetune.train import TrainingError, load_config, train
    cfg = load_config(tiny_train_config(tmp_path, iters=4, every=2))
    cfg['train']['epochs'] = 1

    class Stop(Exception):
        pass

    straight = train(dict(cfg), work_dir=tmp_path / 'straight')
    calls = {'n': 0}
    real_step = paddle.optimizer.Momentum.step

    def step_then_stop(self):
        real_step(self)
        calls['n'] += 1
        if calls['n'] == 3:                   # dies after the checkpoint at iteration 2 and one more step
            raise Stop()
    monkeypatch.setattr(paddle.optimizer.Momentum, 'step', step_then_stop)
    with pytest.raises(Stop):
        train(dict(cfg), work_dir=tmp_path / 'resumed')
    monkeypatch.setattr(paddle.optimizer.Momentum, 'step', real_step)
    import json
    assert json.loads((tmp_path / 'resumed' / 'last.json').read_text())['iteration'] == 2
    with pytest.raises(TrainingError, match='already holds'):
        train(dict(cfg), work_dir=tmp_path / 'resumed')
    resumed = train(dict(cfg), resume=True, work_dir=tmp_path / 'resumed')
    assert len(resumed) == len(straight) == 1
    a = paddle.load(str(tmp_path / 'straight' / 'last.pdparams'))
    b = paddle.load(str(tmp_path / 'resumed' / 'last.pdparams'))
    for name in ('head4.conf.weight', 'fusion4.smooth.0.weight', 'head8.loc.weight'):
        np.testing.assert_allclose(a[name].numpy(), b[name].numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TrainingError, match='nothing to resume'):
        train(dict(cfg), resume=True, work_dir=tmp_path / 'empty')


def test_hard_faces_are_chosen_more_often():
    from finetune.datasets import hard_face_weights, oversample_hard_images
    from maskhub.data.samples import Sample
    from maskhub.data.transforms import Annotated
    boxes = np.float32([[0, 0, 40, 40], [50, 0, 90, 40], [0, 50, 10, 60]])
    attrs = {'pose': np.array([0, 1, 0]), 'occlusion': np.array([0, 0, 2])}
    hard = Sample('a.jpg', boxes, [None] * 3, extra={'attributes': attrs})
    easy = Sample('b.jpg', boxes[:1], [None], extra={'attributes': {'pose': np.array([0]), 'occlusion': np.array([0])}})
    w = hard_face_weights(hard, {'pose': 3, 'heavy_occlusion': 2, 'small': 1})
    np.testing.assert_allclose(w, [1, 4, 4])        # the third face is heavily occluded and 10 px wide
    assert hard_face_weights(hard, None) is None
    a = Annotated.from_sample(hard, np.zeros((100, 100, 3), np.uint8), w)
    rng = np.random.default_rng(0)
    picks = np.bincount([a.pick_face(rng) for _ in range(900)], minlength=3)
    assert picks[1] > 3 * picks[0] and picks[2] > 3 * picks[0]
    assert [s.path for s in oversample_hard_images([easy, hard], 2)] == ['b.jpg', 'a.jpg', 'a.jpg']


def test_distillation_pairs_priors_and_vanishes_when_student_equals_teacher(tmp_path):
    """Mobile student, two-scale server teacher with the same weights: every mobile prior has its twin on the
    teacher's 1x path, where the outputs are identical, so the distillation loss is zero. The mobile_crowd
    student's stride-4 priors pair with the 2x path's 4 and 8 px priors; its random head gets a positive
    loss and a gradient, the teacher none."""
    from finetune.distill import Teacher, distillation_loss, paired_priors
    server = load_builtin_config('pyramidbox_lite_server_two_scale').detector
    crowd = load_builtin_config('pyramidbox_lite_crowd').detector
    paddle.seed(0)
    mobile = build_detector(MOBILE)
    paddle.save(mobile.state_dict(), str(tmp_path / 'w.pdparams'))
    teacher = Teacher(server, tmp_path / 'w.pdparams')
    h, w = 64, 96
    s_idx, t_idx = paired_priors(h, w, MOBILE.prior_box, server.prior_box)
    assert len(s_idx) == len(density_priors(h, w, MOBILE.prior_box))
    x = paddle.rand([2, 3, h, w])
    mobile.eval()
    loc, conf, _ = mobile(x)
    t_loc, t_prob, no_maps = teacher(x)
    assert no_maps == ()
    kd_conf, kd_box = distillation_loss(loc, conf, t_loc, t_prob, (s_idx, t_idx), num_positives=4)
    assert abs(float(kd_conf)) < 1e-5 and abs(float(kd_box)) < 1e-5

    student = build_detector(crowd)
    student.set_state_dict(mobile.state_dict())
    pairs = paired_priors(h, w, crowd.prior_box, server.prior_box)
    assert len(pairs[0]) == len(density_priors(h, w, crowd.prior_box))      # stride-4 priors have twins too
    loc, conf, _ = student(x)
    kd_conf, kd_box = distillation_loss(loc, conf, t_loc, t_prob, pairs, num_positives=4, face_threshold=0.0)
    assert float(kd_conf) > 0 and float(kd_box) > 0
    (kd_conf + kd_box).backward()
    assert float(paddle.abs(student.head4.conf.weight.grad).sum()) > 0
    assert all(p.grad is None for p in teacher.model.parameters())
    compiled = Teacher(server, tmp_path / 'w.pdparams', runtime='openvino')
    for got, want in zip(compiled(x)[:2], (t_loc, t_prob)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)


def test_distillation_through_the_finest_path_pairs_the_full_resolution_student_with_the_teacher_1x_path():
    """The full-resolution mobile_crowd (levels at strides 8, 16, 32) against the round-8 server's two-scale
    graph: every student prior has a twin; by default its 8 and 16 px stride-8 priors pair with the server's
    0.5x path, with teacher_path 'finest' with its 1x path (the whole network on the same pixels)."""
    from finetune.distill import paired_priors
    from maskhub.models.priors import level_layout, num_priors
    student = load_builtin_config('pyramidbox_lite_crowd_fullres').detector.prior_box
    teacher = load_builtin_config('pyramidbox_lite_server_crowd_2x_input_two_scale').detector.prior_box
    h, w = 96, 128
    starts = {i: (start, start + cells * len(sizes)) for i, (_, sizes, start, cells) in
              enumerate(level_layout(h, w, teacher))}
    n = len(density_priors(h, w, student))
    stride8 = num_priors(h, w, student[:1])
    for path, level in (('coarsest', 3), ('finest', 1)):
        s_idx, t_idx = paired_priors(h, w, student, teacher, teacher_path=path)
        assert len(s_idx) == n
        first = t_idx[s_idx < stride8]
        assert len(first) == stride8 and starts[level][0] <= first.min() and first.max() < starts[level][1]
    with pytest.raises(ValueError, match='teacher_path'):
        paired_priors(h, w, student, teacher, teacher_path='middle')


def test_distillation_term_stays_bounded_on_crops_without_faces():
    """With no ground-truth positives the confidence term is divided by the teacher's expected face count, not
    by one: on a face-free input four times larger (four times the background priors) it stays of the same
    size instead of growing with the number of priors."""
    from finetune.distill import distillation_loss, paired_priors
    crowd = load_builtin_config('pyramidbox_lite_crowd').detector
    terms = []
    for h, w in ((64, 64), (128, 128)):
        pairs = paired_priors(h, w, crowd.prior_box, crowd.prior_box)
        n = len(density_priors(h, w, crowd.prior_box))
        t_prob = paddle.to_tensor(np.tile(np.float32([0.99, 0.01]), (1, n, 1)))
        s_conf = paddle.to_tensor(np.tile(np.float32([0.0, np.log(0.2 / 0.8)]), (1, n, 1)))    # p(face) 0.2
        loc = paddle.zeros([1, n, 4])
        kd_conf, _ = distillation_loss(loc, s_conf, loc, t_prob, pairs, num_positives=0)
        kl = 0.01 * np.log(0.01 / 0.2) + 0.99 * np.log(0.99 / 0.8)
        assert float(kd_conf) == pytest.approx(kl * n / (0.01 * n), rel=1e-4)
        terms.append(float(kd_conf))
    assert terms[1] == pytest.approx(terms[0], rel=1e-4)


def test_training_curves_read_resumed_logs_and_plot(tmp_path):
    from finetune.curves import logged_losses, plot_run
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'train.log').write_text(
        '12:00 INFO finetune: epoch 1 iter 25/50 loss 6.0000 (cls 3.0000 loc 3.0000) lr 1e-3 1.0 s/iter\n'
        '12:01 INFO finetune: epoch 1 iter 50/50 loss 5.0000 (cls 2.5000 loc 2.5000) lr 1e-3 1.0 s/iter\n'
        '12:02 INFO finetune: resuming run at epoch 1, iteration 25 of 50\n'
        '12:03 INFO finetune: epoch 1 iter 50/50 loss 4.0000 (cls 2.0000 loc 2.0000) lr 1e-3 1.0 s/iter\n'
        '12:04 INFO finetune: epoch 2 iter 25/50 loss 3.5000 (cls 2.0000 loc 1.5000) lr 1e-3 1.0 s/iter\n')
    assert logged_losses(run / 'train.log') == [(25, 6.0, 3.0, 3.0), (50, 4.0, 2.0, 2.0), (75, 3.5, 2.0, 1.5)]
    recall = {'<16': 0.1, '16-32': 0.5, '32-64': 0.8, 'all': 0.4}
    (run / 'last.json').write_text('{"history": [{"epoch": 1, "recall": %s}]}' % str(recall).replace("'", '"'))
    out = plot_run(run, tmp_path / 'curve.png')
    assert out.stat().st_size > 10_000


def test_training_curves_plot_a_committed_run_folder(tmp_path):
    # committed runs keep their log as train_log.txt and their val subset has no face < 16 px (recall None)
    from finetune.curves import logged_losses, plot_run, run_log
    run = REPO / 'finetune' / 'checkpoints' / 'mobile_crowd_round7'
    assert run_log(run).name == 'train_log.txt'
    assert len(logged_losses(run_log(run))) > 100
    assert plot_run(run, tmp_path / 'curve.png').stat().st_size > 10_000


def test_in_training_validation_runs_the_pipeline_stages_of_the_shipped_model(example_images, tmp_path):
    """The per-epoch val reads the image as the shipped server does (input_scale 2 at shrink 0.5): taking the
    pipeline's own faces as ground truth, the training model finds every one of them again. It measures the
    network's single pass: the shipped server's ``flip_test`` (a second, mirrored pass) is turned off here."""
    import shutil
    import cv2
    import yaml
    from conftest import real_images
    from finetune.evaluate import evaluate_detector
    from finetune.train import load_matching_weights
    from maskhub import MaskDetector
    from maskhub.data.samples import Sample
    from maskhub.inference.registry import resolve_model_dir
    path = real_images(example_images, 1)[0]
    model_dir = tmp_path / 'server_one_pass'
    shutil.copytree(resolve_model_dir('server'), model_dir)
    raw = yaml.safe_load((model_dir / 'model.yml').read_text())
    assert raw['detector'].pop('flip_test') is True
    (model_dir / 'model.yml').write_text(yaml.safe_dump(raw))
    pipeline = MaskDetector(str(model_dir), backend='dygraph', threads=2)
    assert pipeline.config.detector.input_scale == 2.0
    boxes, _ = pipeline.detect(cv2.imread(str(path)), shrink=0.5, confs_threshold=0.5)
    assert len(boxes) > 0
    model = build_detector(pipeline.config.detector)
    load_matching_weights(model, pipeline.model_dir / 'detector.pdparams')
    sample = Sample(str(path), boxes.astype(np.float32), [None] * len(boxes), np.zeros(len(boxes), bool))
    result = evaluate_detector(model, [sample], pipeline.config, shrink=0.5)
    assert result['recall']['all'] == 1.0 and np.isfinite(result['val_loss'])
    # the same network input as the config without input_scale read at shrink 1.0: the same loss and recall
    from maskhub.config import ModelConfig
    raw = pipeline.config.to_dict()
    plain = ModelConfig.from_dict(dict(raw, detector=dict(raw['detector'], input_scale=1.0)))
    assert evaluate_detector(model, [sample], plain, shrink=1.0) == result


def test_feature_distillation_follows_the_teacher_1x_path_maps(tmp_path):
    """A two-scale server teacher with features returns its 1x path's five backbone stage maps (those of its base
    network on the input); a student with the teacher's weights has zero mimic loss, the separable student (folded
    stride-4 map: compared with the first half of the teacher's [x, -x]) a positive one with gradients, and the
    compiled teacher gives the same maps."""
    from finetune.distill import Teacher, feature_mimic_loss
    from maskhub.models.pyramidbox_lite_separable import PyramidBoxLiteCrowdSeparable
    server = load_builtin_config('pyramidbox_lite_server_crowd_2x_input_two_scale').detector
    dense = build_detector(load_builtin_config('pyramidbox_lite_crowd').detector)
    dense.set_state_dict(paddle.load(str(REPO / 'finetune' / 'weights' / 'server_round8_detector.pdparams')))
    dense.eval()
    teacher = Teacher(server, REPO / 'finetune' / 'weights' / 'server_round8_detector.pdparams', features=True)
    x = paddle.rand([1, 3, 64, 96]) - 0.5
    loc, prob, maps = teacher(x)
    want = dense.backbone.stage_maps(x)
    assert len(maps) == 5 and [m.shape[1] for m in maps] == [96, 128, 256, 256, 256]
    for got, ref in zip(maps, want):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-5)
    assert float(feature_mimic_loss(want, maps)) < 1e-8
    student = PyramidBoxLiteCrowdSeparable()
    student.set_state_dict(student.state_from_dense(dense.state_dict()))
    student_maps = student.backbone.stage_maps(x)
    loss = feature_mimic_loss(student_maps, maps)
    assert float(loss) > 0.05
    expected = 0.0
    for s, t in zip(student_maps, maps):
        s, t = s.numpy().astype(np.float64), t.numpy()[:, :s.shape[1]].astype(np.float64)
        expected += ((s - t) ** 2).mean() / (t ** 2).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    loss.backward()
    assert float(paddle.abs(student.backbone.block1.conv3x3[1][0].depthwise.weight.grad).sum()) > 0
    compiled = Teacher(server, REPO / 'finetune' / 'weights' / 'server_round8_detector.pdparams', runtime='openvino',
                       features=True)
    for got, ref in zip(compiled(x)[2], maps):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-4)


def test_miss_check_sorts_faces_into_found_low_score_and_not_localised():
    from finetune.miss_check import face_outcomes
    gt = [[0, 0, 10, 10], [20, 0, 40, 20], [50, 0, 90, 40], [100, 0, 110, 10]]
    ignore = [False, False, False, True]
    dets = [[0, 0, 10, 10], [21, 0, 41, 20], [50, 0, 60, 10], [100, 0, 110, 10]]
    scores = [0.9, 0.3, 0.99, 0.99]
    assert face_outcomes(gt, ignore, dets, scores) == [('found', 10.0), ('low_score', 20.0), ('not_localised', 40.0)]
    assert [k for k, _ in face_outcomes(gt, ignore, [], [])] == ['not_localised'] * 3


def test_verifier_check_labels_candidates_by_overlap_and_leaves_ignore_regions_out():
    import types
    from finetune.verifier_check import candidate_labels
    sample = types.SimpleNamespace(boxes=[[0, 0, 10, 10], [100, 0, 140, 40]], ignore=[False, True])
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 14], [50, 50, 60, 60], [105, 5, 125, 25]], np.float32)
    assert candidate_labels(sample, boxes).tolist() == [1, 1, 0, -1]
