"""Distillation from a stronger detector: its face probabilities (and, where it is confident, its boxes) on
every training crop become soft targets for the student, on top of the ground truth.

Teacher and student are compared prior by prior: each student prior is paired with the teacher prior of
the same cell, stride and anchor size (e.g. the server's 2x path supplies stride-4 priors of 4 and 8 px,
exactly those of mobile_crowd's stride-4 level). A student prior with no such twin is left out.
"""
from functools import lru_cache

import numpy as np
import paddle
import paddle.nn.functional as F

from finetune.openvino_forward import CompiledForward
from maskhub.models import build_detector
from maskhub.models.priors import level_layout
from maskhub.models.pyramidbox_lite import concat_levels


@lru_cache(maxsize=16)
def paired_priors(h, w, student_levels, teacher_levels, teacher_path='coarsest'):
    """(student indices, teacher indices) of the priors both layouts have: same stride, same anchor size, same
    cell (for an h x w input). Where the teacher has a (stride, size) twice (an image pyramid), the later level
    (its coarsest path) is used, or with ``teacher_path='finest'`` the first (the path on the most pixels)."""
    if teacher_path not in ('coarsest', 'finest'):
        raise ValueError("teacher_path must be 'coarsest' or 'finest', got %r" % (teacher_path,))
    teacher = {}
    for stride, sizes, start, cells in level_layout(h, w, teacher_levels):
        for k, size in enumerate(sizes):
            if teacher_path == 'coarsest' or (stride, size) not in teacher:
                teacher[(stride, size)] = (start, len(sizes), k, cells)
    s_idx, t_idx = [], []
    for stride, sizes, start, cells in level_layout(h, w, student_levels):
        for k, size in enumerate(sizes):
            if (stride, size) not in teacher:
                continue
            t_start, t_anchors, t_k, t_cells = teacher[(stride, size)]
            if t_cells != cells:
                raise ValueError('stride-%d grids differ: %d student cells, %d teacher cells' % (stride, cells, t_cells))
            cell = np.arange(cells)
            s_idx.append(start + cell * len(sizes) + k)
            t_idx.append(t_start + cell * t_anchors + t_k)
    if not s_idx:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    s_idx, t_idx = np.concatenate(s_idx), np.concatenate(t_idx)
    order = np.argsort(s_idx)
    return s_idx[order], t_idx[order]


def outputs_and_features(model):
    """fn(image) -> (loc, conf, landmarks, *backbone stage maps): a ``PyramidBoxLiteCrowd`` (or a server on it)
    and the backbone's stage maps (``Backbone.stage_maps``) of its path on the input itself (an image pyramid's
    1x path)."""
    def forward(image):
        outs, features = [], None
        for scale in getattr(model, 'scales', (1.0,)):
            maps = model.backbone.stage_maps(image if scale == 1.0 else model.rescale(image, scale))
            features = maps if scale == 1.0 else features
            outs.append(model.levels_from_features(maps[0], maps[-1]))
        if features is None:
            raise ValueError('feature distillation needs a teacher with a path on the input itself (scale 1)')
        return (*concat_levels(outs), *features)
    return forward


def feature_mimic_loss(student_maps, teacher_maps):
    """Sum over the maps of the squared error to the teacher's, relative to the teacher's mean square. A student
    map with fewer channels (a folded CReLU: the teacher's map is [x, -x]) is compared with the teacher's first
    channels."""
    # split and square rather than t[:, :c] and ** 2: on a 8 x 128 x 144 x 144 map Paddle's eager CPU slice
    # took 0.25 s against 0.05 s for split, and pow 5x longer than square (2026-12-03, Xeon AVX-512, 1 thread)
    total = 0.0
    for s, t in zip(student_maps, teacher_maps):
        channels = s.shape[1]
        if t.shape[1] != channels:
            t = paddle.split(t, [channels, t.shape[1] - channels], axis=1)[0]
        total = total + paddle.square(s - t).mean() / paddle.clip(paddle.square(t).mean(), min=1e-6)
    return total


class Teacher:
    """A frozen detector in eval mode that scores training batches; with ``features``, it also returns the
    backbone feature maps of its path on the input itself (``outputs_and_features``)."""

    def __init__(self, detector_config, weights, runtime='dygraph', precision='fp32', features=False):
        if runtime not in ('dygraph', 'openvino'):
            raise ValueError("teacher runtime must be 'dygraph' or 'openvino', got %r" % (runtime,))
        if precision != 'fp32' and runtime != 'openvino':
            raise ValueError('teacher precision %s needs runtime openvino' % precision)
        self.config = detector_config
        self.model = build_detector(detector_config)
        self.model.set_state_dict(paddle.load(str(weights)))
        self.model.eval()
        for p in self.model.parameters():
            p.stop_gradient = True
        self.forward = outputs_and_features(self.model) if features else self.model.forward
        self.compiled = (CompiledForward(self.model, self.forward, precision=precision)
                         if runtime == 'openvino' else None)

    @paddle.no_grad()
    def __call__(self, x):
        """(loc, face/background probabilities, feature maps or ())."""
        loc, conf, _, *maps = self.compiled(x) if self.compiled else self.forward(x)
        return loc, F.softmax(conf, axis=-1), tuple(maps)


def distillation_loss(student_loc, student_conf, teacher_loc, teacher_prob, pairs, num_positives,
                      face_threshold=0.5):
    """(confidence term, box term), scalar tensors.

    Confidence: KL(teacher || student) of the face/background distribution, summed over paired priors and
    divided by the larger of ``num_positives`` (the ground-truth positives, as the multibox loss is) and the
    teacher's expected face count (its face probabilities summed over the paired priors). The second keeps
    the term bounded on crops with few or no positives, where tens of thousands of background priors would
    otherwise be summed and divided by one. Boxes: smooth-L1 to
    the teacher's encoded box where the teacher's face probability is at least ``face_threshold``, averaged
    over those priors."""
    s_idx, t_idx = (paddle.to_tensor(v) for v in pairs)
    s_conf = paddle.index_select(student_conf, s_idx, axis=1)
    t_prob = paddle.index_select(teacher_prob, t_idx, axis=1)
    kl = (t_prob * (paddle.log(paddle.clip(t_prob, 1e-8)) - F.log_softmax(s_conf, axis=-1))).sum(-1)
    expected_faces = float(t_prob[:, :, 1].sum())
    conf_term = kl.sum() / max(int(num_positives), expected_faces, 1.0)
    confident = (t_prob[:, :, 1] >= face_threshold).astype('float32')
    s_loc = paddle.index_select(student_loc, s_idx, axis=1)
    t_loc = paddle.index_select(teacher_loc, t_idx, axis=1)
    box = F.smooth_l1_loss(s_loc, t_loc, reduction='none').sum(-1)
    box_term = (box * confident).sum() / paddle.clip(confident.sum(), min=1.0)
    return conf_term, box_term
