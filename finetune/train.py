"""Fine-tune a detector or the mask classifier from a YAML config.

    maskhub train --config finetune/configs/mobile_crowd_detector.yml [--data SPEC] [--resume] [--epochs N]

(``python -m finetune.train ...`` is the same command; the options are in ``maskhub/commands/train.py``.)

Checkpoints go to ``work_dirs/<name>/`` (or ``--work-dir``) every ``train.checkpoint_every`` iterations and
after every epoch (``last.pdparams``/``last.pdopt``/``last.json``, ``latest_weights.pdparams`` with BN folded,
plus ``epoch_<k>.pdparams``); ``--resume`` continues from ``last``, mid-epoch included. With several processes
(``python -m paddle.distributed.launch``) the model is wrapped in ``paddle.DataParallel`` and each rank
trains on its own shard of every batch order.
"""
import os

# 2 shared CPU cores: one BLAS/OpenMP thread per process unless the caller says otherwise
os.environ.setdefault('OMP_NUM_THREADS', '1')

import json  # noqa: E402
import sys  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import yaml  # noqa: E402
from tqdm import tqdm  # noqa: E402

from finetune.datasets import (DetectorTrainBatches, FaceCropCache, balanced_indices, classifier_batch,  # noqa: E402
                               load_samples, oversample_hard_images)
from finetune.batchnorm import folded_state_dict, insert_identity_bn  # noqa: E402
from finetune.distill import Teacher, distillation_loss, feature_mimic_loss, paired_priors  # noqa: E402
from finetune.evaluate import evaluate_classifier, evaluate_detector  # noqa: E402
from finetune.losses import multibox_loss  # noqa: E402
from finetune.openvino_forward import CompiledForward  # noqa: E402
from maskhub.config import load_builtin_config, read_yaml_config  # noqa: E402
from maskhub.data.paths import REPO_ROOT  # noqa: E402
from maskhub.models import build_classifier, build_detector  # noqa: E402
from maskhub.models.priors import level_rows  # noqa: E402

log = logging.getLogger('finetune')


def load_config(path):
    cfg = read_yaml_config(path)
    for key in ('name', 'task', 'model_config', 'train'):
        if key not in cfg:
            raise ValueError('%s: missing key %r' % (path, key))
    if cfg['task'] not in ('detector', 'classifier'):
        raise ValueError('%s: task must be detector or classifier' % path)
    return cfg


def load_matching_weights(layer, path):
    """Load the parameters of ``path`` whose name and shape match; return (loaded, skipped) name lists."""
    state = paddle.load(str(path))
    own = layer.state_dict()
    usable = {k: v for k, v in state.items() if k in own and list(v.shape) == list(own[k].shape)}
    layer.set_state_dict(usable)
    return sorted(usable), sorted(set(own) - set(usable))


def background_prior_init(model, random_names, face_prior=0.01):
    """New (randomly initialised) confidence heads start out predicting background with p(face) = face_prior,
    so their first hard negatives do not swamp the loss of the pretrained levels."""
    params = dict(model.named_parameters())
    for name in random_names:
        if name.endswith('conf.bias'):
            bias = np.zeros(params[name].shape, np.float32)
            bias[1::2] = np.log(face_prior / (1 - face_prior))      # channels alternate background, face
            params[name].set_value(bias)


def freeze(model, prefixes):
    """Stop the gradient of every parameter whose name starts with one of ``prefixes``; return their count.
    Frozen early layers keep the pretrained features and save their (costly, full-resolution) backward pass."""
    frozen = 0
    for name, param in model.named_parameters():
        if any(name.startswith(p) for p in prefixes):
            param.stop_gradient = True
            frozen += 1
    return frozen


def scale_learning_rates(model, multipliers):
    """``multipliers``: {name prefix: factor}. Layers trained from random init (a new level) learn at a multiple
    of the base rate while the pretrained ones keep it; the longest matching prefix decides (a config merged
    over its ``_BASE_`` cannot order its keys). Returns the number of parameters changed."""
    changed = 0
    for name, param in model.named_parameters():
        matches = [prefix for prefix in multipliers if name.startswith(prefix)]
        if matches:
            param.optimize_attr['learning_rate'] = float(multipliers[max(matches, key=len)])
            changed += 1
    return changed


def build_optimizer(model, train_cfg, total_iters):
    base_lr = float(train_cfg['lr'])
    schedule = paddle.optimizer.lr.CosineAnnealingDecay(base_lr, T_max=max(total_iters, 1),
                                                        eta_min=base_lr * 0.05)
    warmup = int(train_cfg.get('warmup_iters', 0))
    if warmup:
        schedule = paddle.optimizer.lr.LinearWarmup(schedule, warmup, base_lr * 0.1, base_lr)
    clip = paddle.nn.ClipGradByGlobalNorm(float(train_cfg['grad_clip'])) if train_cfg.get('grad_clip') else None
    trainable = [p for p in model.parameters() if not p.stop_gradient]
    decay = paddle.regularizer.L2Decay(float(train_cfg.get('weight_decay', 0)))
    kind = train_cfg.get('optimizer', 'momentum')
    if kind == 'momentum':
        opt = paddle.optimizer.Momentum(schedule, momentum=float(train_cfg.get('momentum', 0.9)), parameters=trainable,
                                        grad_clip=clip, weight_decay=decay)
    elif kind == 'adam':     # for layers trained from scratch in a short schedule
        opt = paddle.optimizer.Adam(schedule, parameters=trainable, grad_clip=clip, weight_decay=decay)
    else:
        raise ValueError('train.optimizer must be momentum or adam, got %r' % kind)
    return opt, schedule


class Checkpoints:
    """``work_dirs/<name>/``: one training run. ``last.*`` is the latest state (weights, optimizer with its LR
    schedule, and where in which epoch it stopped), written every ``checkpoint_every`` iterations and at the
    end of each epoch; ``epoch_<k>.pdparams`` the weights after epoch k."""

    def __init__(self, work_dir):
        self.dir = Path(work_dir)

    def exists(self):
        return (self.dir / 'last.json').exists()

    def prepare(self, resume):
        """Refuse to mix two runs in one directory; with ``resume``, refuse when there is nothing to resume."""
        if resume and not self.exists():
            raise TrainingError('nothing to resume in %s (no last.json): start without --resume' % self.dir)
        if not resume and self.dir.exists() and any(self.dir.glob('*.pdparams')):
            raise TrainingError('%s already holds a training run: pass --resume to continue it, or --work-dir '
                                'for a new run' % self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, model, opt, epoch, iteration, history, epoch_done=False):
        """``epoch``: 0-based epoch in progress; ``iteration``: batches of it done."""
        if epoch_done:
            # epoch files load into the plain architecture (finetune.package); last.* keeps any BN for --resume
            paddle.save(folded_state_dict(model), str(self.dir / ('epoch_%d.pdparams' % (epoch + 1))))
        paddle.save(model.state_dict(), str(self.dir / 'last.pdparams.tmp'))
        paddle.save(rename_optimizer_state(opt.state_dict(), model, to_structured=True), str(self.dir / 'last.pdopt.tmp'))
        paddle.save(folded_state_dict(model), str(self.dir / 'latest_weights.pdparams.tmp'))
        for name in ('last.pdparams', 'last.pdopt', 'latest_weights.pdparams'):
            os.replace(self.dir / (name + '.tmp'), self.dir / name)
        meta = {'epoch': epoch + 1 if epoch_done else epoch, 'iteration': 0 if epoch_done else iteration,
                'history': history}
        tmp = self.dir / 'last.json.tmp'
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, self.dir / 'last.json')

    def load(self, model, opt):
        """(epoch to continue, batches of it already done, history)."""
        meta = json.loads((self.dir / 'last.json').read_text())
        model.set_state_dict(paddle.load(str(self.dir / 'last.pdparams')))
        opt.set_state_dict(rename_optimizer_state(paddle.load(str(self.dir / 'last.pdopt')), model, to_structured=False))
        return meta['epoch'], meta.get('iteration', 0), meta['history']


def rename_optimizer_state(state, model, to_structured):
    """Optimizer accumulators are keyed by Paddle's generated parameter names (``conv2d_12.w_0_velocity_0``),
    which depend on how many layers the process built before; checkpoints key them by the structured name
    (``head8.conf.weight|velocity_0``) instead, so they load into any process."""
    pairs = [(p.name, name) for name, p in model.named_parameters()]
    out = {}
    for key, value in state.items():
        for generated, structured in pairs:
            src, dst = (generated + '_', structured + '|') if to_structured else (structured + '|', generated + '_')
            if key.startswith(src):
                key = dst + key[len(src):]
                break
        out[key] = value
    return out


class TrainingError(RuntimeError):
    pass


def prefetch(iterable, depth=2):
    """Iterate ``iterable`` in a background thread, ``depth`` items ahead: image decoding and augmentation
    (OpenCV and numpy release the GIL) overlap the forward/backward pass."""
    items = queue.Queue(maxsize=depth)
    done = object()

    def worker():
        try:
            for item in iterable:
                items.put(item)
        except BaseException as err:      # re-raised in the consumer
            items.put(err)
        items.put(done)

    threading.Thread(target=worker, daemon=True).start()
    while True:
        item = items.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def val_subset(samples, count, seed):
    if not count or count >= len(samples):
        return samples
    idx = np.random.default_rng(seed).permutation(len(samples))[:count]
    return [samples[i] for i in sorted(idx)]


class DetectorTask:
    def __init__(self, cfg, model_config):
        self.cfg, self.model_config = cfg, model_config
        self.model = build_detector(model_config.detector)
        # landmarks are not trained: frozen, so DataParallel sees no parameter without a gradient
        for name, param in self.model.named_parameters():
            if '.landmarks.' in name:
                param.stop_gradient = True
        t, d = cfg['train'], cfg.get('data', {})
        augment = {k: t[k] for k in ('anchor_sampling_prob', 'shrink_crop_prob', 'shrink_range', 'expand_prob')
                   if k in t}
        samples = oversample_hard_images(load_samples(d.get('train', ['wider', 'mask']), 'train'),
                                         t.get('hard_image_repeat', 1))
        self.batches = DetectorTrainBatches(samples, model_config.detector, int(t['batch_size']), t['sizes'],
                                            int(t.get('seed', 0)), face_weights=t.get('hard_face_weights'),
                                            **augment)
        self.teacher, self.distill, self.feature_weight = None, t.get('distill'), 0.0
        if self.distill:
            # feature_weight: the student's backbone maps also follow the teacher's (on its path on the input)
            self.feature_weight = float(self.distill.get('feature_weight', 0.0))
            if self.feature_weight and not hasattr(self.model, 'levels_from_features'):
                raise ValueError('distill.feature_weight needs a student whose levels sit on its backbone features')
            self.teacher = Teacher(load_builtin_config(self.distill['teacher_config']).detector,
                                   REPO_ROOT / self.distill['teacher_weights'], self.distill.get('runtime', 'dygraph'),
                                   self.distill.get('precision', 'fp32'), features=bool(self.feature_weight))
            log.info('distilling from %s (%s)', self.distill['teacher_config'], self.distill['teacher_weights'])
        # loss_levels: only these prior levels (strides) are trained; with frozen_runtime 'openvino' the frozen
        # backbone runs compiled and only what sits on its feature maps (neck and heads) runs in dygraph;
        # without it every level trains (a server's levels repeat strides across its pyramid scales)
        levels = model_config.detector.prior_box
        self.loss_levels = [int(v) for v in t['loss_levels']] if 'loss_levels' in t else None
        self.frozen_runtime, self.frozen_backbone = t.get('frozen_runtime', 'dygraph'), None
        if self.frozen_runtime not in ('dygraph', 'openvino'):
            raise ValueError("train.frozen_runtime must be 'dygraph' or 'openvino', got %r" % self.frozen_runtime)
        if self.frozen_runtime == 'openvino' and not hasattr(self.model, 'levels_from_features'):
            raise ValueError('train.frozen_runtime openvino needs a model whose levels sit on the backbone features '
                             '(model_config pyramidbox_lite_crowd)')
        self.student_levels = (levels if self.loss_levels is None
                               else tuple(level for level in levels if level[0] in self.loss_levels))
        self.val_shrink = float(d.get('val_shrink', 1.0))
        per_source = int(d.get('val_images_per_source', 16))
        self.val = [s for src in d.get('val', ['wider', 'mask'])
                    for s in val_subset(load_samples([src], 'val'), per_source, int(t.get('seed', 0)))]
        log.info('detector: %d train images, %d val images', len(self.batches.samples), len(self.val))

    def batches_for(self, epoch, iters, rank, world, start=0):
        return self.batches.epoch(epoch, iters, rank, world, start)

    def forward(self, model, image, rows):
        """(loc, conf) of the trained levels (``rows``: their prior rows in the model's output), and the backbone
        stage maps when they are distilled (else ())."""
        if self.teacher is not None and self.feature_weight:
            if paddle.distributed.get_world_size() > 1:
                raise TrainingError('distill.feature_weight runs in one process only')
            maps = self.model.backbone.stage_maps(image)
            loc, conf, _ = self.model.levels_from_features(maps[0], maps[-1])
            return loc[:, rows], conf[:, rows], maps
        if self.frozen_runtime == 'openvino':
            if paddle.distributed.get_world_size() > 1:
                raise TrainingError('train.frozen_runtime openvino runs in one process only')
            if self.frozen_backbone is None:      # compiled after the weights are loaded and frozen
                self.frozen_backbone = CompiledForward(self.model.backbone, self.model.backbone.features)
            features = self.frozen_backbone(image)
            if self.loss_levels == [self.model_config.detector.prior_box[0][0]]:     # the heads above are not needed
                loc, conf, _ = self.model.small_face_level(*features)
                return loc, conf, ()
            loc, conf, _ = self.model.levels_from_features(*features)
            return loc[:, rows], conf[:, rows], ()
        loc, conf, _ = model(image)
        return loc[:, rows], conf[:, rows], ()

    def loss(self, model, batch):
        x, labels, targets = batch
        image = paddle.to_tensor(x)
        rows = (slice(None) if self.loss_levels is None
                else level_rows(x.shape[2], x.shape[3], self.model_config.detector.prior_box, self.loss_levels))
        labels, targets = labels[:, rows], targets[:, rows]
        loc, conf, maps = self.forward(model, image, rows)
        total, cls_loss, loc_loss = multibox_loss(loc, conf, labels, targets)
        if self.teacher is None:
            return total, cls_loss, loc_loss
        pairs = paired_priors(x.shape[2], x.shape[3], self.student_levels, self.teacher.config.prior_box,
                              self.distill.get('teacher_path', 'coarsest'))
        teacher_loc, teacher_prob, teacher_maps = self.teacher(image)
        kd_conf, kd_box = distillation_loss(loc, conf, teacher_loc, teacher_prob, pairs, (labels == 1).sum(),
                                            float(self.distill.get('face_threshold', 0.5)))
        total = (total + float(self.distill.get('weight', 1.0)) * kd_conf
                 + float(self.distill.get('box_weight', 1.0)) * kd_box)
        if maps:
            total = total + self.feature_weight * feature_mimic_loss(maps, teacher_maps)
        return total, cls_loss, loc_loss

    def evaluate(self, model):
        return evaluate_detector(model, self.val, self.model_config, shrink=self.val_shrink)


class ClassifierTask:
    def __init__(self, cfg, model_config):
        self.cfg, self.model_config = cfg, model_config
        self.model = build_classifier(model_config.classifier)
        size, ctx = model_config.classifier.input_size, model_config.classifier.crop_context
        t0 = time.time()
        d = cfg.get('data', {})
        self.train_cache = FaceCropCache(load_samples(d.get('train', ['mask']), 'train', require_labels=True), size, ctx)
        self.val_cache = FaceCropCache(load_samples(d.get('val', ['mask']), 'val', require_labels=True), size, ctx)
        self.batch_size, self.seed = int(cfg['train']['batch_size']), int(cfg['train'].get('seed', 0))
        log.info('classifier: %d train faces %s, %d val faces (cached in %.0f s)', len(self.train_cache),
                 np.bincount(self.train_cache.labels).tolist(), len(self.val_cache), time.time() - t0)

    def batches_for(self, epoch, iters, rank, world, start=0):
        for it in range(start, iters):
            rng = np.random.default_rng([self.seed, epoch, rank, it])
            yield classifier_batch(self.train_cache, balanced_indices(self.train_cache.labels, self.batch_size, rng), rng)

    def loss(self, model, batch):
        x, y = batch
        ce = paddle.nn.functional.cross_entropy(model(paddle.to_tensor(x)), paddle.to_tensor(y[:, None]))
        return ce, ce, ce * 0

    def evaluate(self, model):
        return evaluate_classifier(model, self.val_cache)


TASKS = {'detector': DetectorTask, 'classifier': ClassifierTask}


def train(cfg, resume=False, epochs=None, work_dir=None):
    world, rank = paddle.distributed.get_world_size(), paddle.distributed.get_rank()
    ckpt = Checkpoints(work_dir or REPO_ROOT / 'work_dirs' / cfg['name'])
    if rank == 0:
        ckpt.prepare(resume)
    if world > 1:
        paddle.distributed.init_parallel_env()
    model_config = load_builtin_config(cfg['model_config'])
    paddle.seed(int(cfg['train'].get('seed', 0)))         # the random init of new layers is part of the run
    task = TASKS[cfg['task']](cfg, model_config)
    model = task.model
    if cfg.get('init_weights') and not resume:
        # one file, or a list: each later file overrides the tensors it holds
        sources = [cfg['init_weights']] if isinstance(cfg['init_weights'], str) else list(cfg['init_weights'])
        loaded = set()
        for source in sources:
            loaded.update(load_matching_weights(model, REPO_ROOT / source)[0])
        skipped = sorted(set(model.state_dict()) - loaded)
        log.info('init from %s: %d tensors loaded, %d left at random init %s', ', '.join(sources),
                 len(loaded), len(skipped), skipped)
        background_prior_init(model, skipped)
    t = cfg['train']
    if t.get('freeze'):
        log.info('frozen: %d parameters under %s', freeze(model, t['freeze']), t['freeze'])
    if t.get('identity_bn'):
        log.info('BatchNorm re-inserted as the identity after %d convs under %s',
                 insert_identity_bn(model, t['identity_bn']), t['identity_bn'])
    if t.get('lr_mult'):
        log.info('learning rate x factor for %d parameters: %s', scale_learning_rates(model, t['lr_mult']),
                 t['lr_mult'])
    epochs = int(epochs or t['epochs'])
    iters = int(t['iters_per_epoch'])
    every = int(t.get('checkpoint_every', 200))
    opt, schedule = build_optimizer(model, t, epochs * iters)
    start_epoch, start_iter, history = 0, 0, []
    if resume:
        start_epoch, start_iter, history = ckpt.load(model, opt)
        log.info('resuming %s at epoch %d, iteration %d of %d', ckpt.dir, start_epoch + 1, start_iter, iters)
    train_model = paddle.DataParallel(model) if world > 1 else model
    model.train()
    log_every = int(cfg.get('log_every', 10))
    for epoch in range(start_epoch, epochs):
        first = start_iter if epoch == start_epoch else 0
        t0, running = time.time(), []
        bar = tqdm(prefetch(task.batches_for(epoch, iters, rank, world, first)), total=iters, initial=first,
                   desc='epoch %d' % (epoch + 1), mininterval=30, disable=rank != 0)
        for it, batch in enumerate(bar, start=first):
            total, cls_loss, loc_loss = task.loss(train_model, batch)
            total.backward()
            opt.step()
            opt.clear_grad()
            schedule.step()
            running.append((float(total), float(cls_loss), float(loc_loss)))
            if (it + 1) % log_every == 0 and rank == 0:
                m = np.mean(running[-log_every:], axis=0)
                log.info('epoch %d iter %d/%d loss %.4f (cls %.4f loc %.4f) lr %.2e %.2f s/iter', epoch + 1, it + 1,
                         iters, m[0], m[1], m[2], schedule.get_lr(), (time.time() - t0) / len(running))
            if rank == 0 and (it + 1) % every == 0 and it + 1 < iters:
                ckpt.save(model, opt, epoch, it + 1, history)
        if rank != 0:
            continue
        train_time = time.time() - t0
        metrics = task.evaluate(model)
        model.train()
        record = {'epoch': epoch + 1, 'train_loss': float(np.mean([r[0] for r in running])) if running else None,
                  'train_seconds': round(train_time, 1), 'eval_seconds': round(time.time() - t0 - train_time, 1),
                  'finished_utc': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime()), **metrics}
        history.append(record)
        log.info('epoch %d done: %s', epoch + 1, json.dumps(record))
        ckpt.save(model, opt, epoch, iters, history, epoch_done=True)
    return history


def main(argv=None):
    """``python -m finetune.train`` (and ``paddle.distributed.launch finetune/train.py``): ``maskhub train``."""
    from maskhub.cli import main as cli
    return cli(['train', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
    sys.exit(main())
