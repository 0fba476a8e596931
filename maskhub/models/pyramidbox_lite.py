"""PyramidBox-lite face detectors.

``PyramidBoxLiteMobile`` is the network of Baidu's ``pyramidbox_lite_mobile`` module, written from
the op graph in ``shared/official_pyramidbox_lite/detector.json``. BatchNorm is folded into the
convolution weights of the published model, so every conv carries a bias and no BN layer exists.

``PyramidBoxLiteCrowd`` (maskhub ``mobile_crowd``) adds a stride-4 level for small faces;
``PyramidBoxLiteCrowdFullRes`` is that network reading the image at twice the resolution through a stem that
brings it to the same tensor sizes (the rest of the network costs what it did).

The servers spend more compute for small faces: ``ImagePyramid`` runs a base network (same parameter
names, so its weights load unchanged) also on the 2x-upsampled input, which adds levels at half the
strides with half-size anchors, and optionally on the half-size input for large faces:
``PyramidBoxLiteServer`` on the mobile network (round 2), ``PyramidBoxLiteCrowdServer`` on
``PyramidBoxLiteCrowd`` (the shipped ``server``).

Outputs of ``forward``: ``loc`` [N, P, 4], ``conf`` [N, P, 2] (logits), ``landmarks`` [N, P, 10],
with priors ordered level by level (smallest stride first), cell by cell, anchor by anchor.
"""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def conv_relu(in_ch, out_ch, kernel, stride=1):
    return nn.Sequential(nn.Conv2D(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2), nn.ReLU())


class ConcatNegation(nn.Layer):
    """CReLU-style doubling used by the stem: [x, -x] along channels (applied after the ReLU)."""

    def forward(self, x):
        return paddle.concat([x, -x], axis=1)


class InceptionSE(nn.Layer):
    """Four 64-channel branches (pool→1×1, 1×1, 1×1→3×3, 1×1→3×3→3×3) and a squeeze-excitation gate.
    ``conv(in, out, kernel)`` builds each conv + ReLU (a separable one in ``PyramidBoxLiteCrowdSeparable``)."""

    def __init__(self, in_ch, conv=conv_relu):
        super().__init__()
        self.pool_branch = conv(in_ch, 64, 1)
        self.conv1x1 = conv(in_ch, 64, 1)
        self.conv3x3 = nn.Sequential(conv(in_ch, 48, 1), conv(48, 64, 3))
        self.conv5x5 = nn.Sequential(conv(in_ch, 48, 1), conv(48, 64, 3), conv(64, 64, 3))
        self.se_reduce = nn.Conv2D(256, 16, 1)
        self.se_expand = nn.Conv2D(16, 256, 1)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 3, stride=1, padding=1, exclusive=True)
        y = paddle.concat([self.pool_branch(pooled), self.conv1x1(x), self.conv3x3(x), self.conv5x5(x)], axis=1)
        gate = F.adaptive_avg_pool2d(y, 1)
        gate = F.sigmoid(self.se_expand(F.relu(self.se_reduce(gate))))
        return y * gate


class DetectionHead(nn.Layer):
    """loc / conf / landmark 3×3 convs for one pyramid level with ``num_anchors`` anchors per cell."""

    def __init__(self, in_ch, num_anchors, stride=1):
        super().__init__()
        self.loc = nn.Conv2D(in_ch, num_anchors * 4, 3, stride=stride, padding=1)
        self.conf = nn.Conv2D(in_ch, num_anchors * 2, 3, stride=stride, padding=1)
        self.landmarks = nn.Conv2D(in_ch, num_anchors * 10, 3, stride=stride, padding=1)

    @staticmethod
    def _flatten(x, k):
        # NCHW -> NHWC -> [N, H*W*A, k]: channel a*k + j is anchor a, component j
        return paddle.reshape(paddle.transpose(x, [0, 2, 3, 1]), [0, -1, k])

    def forward(self, x):
        return (self._flatten(self.loc(x), 4), self._flatten(self.conf(x), 2),
                self._flatten(self.landmarks(x), 10))


class Backbone(nn.Layer):
    """Stem to stride 8, then three Inception-SE blocks: 256 channels at stride 8."""

    def __init__(self):
        super().__init__()
        self.stem1 = conv_relu(3, 16, 3, stride=2)
        self.stem2 = conv_relu(32, 48, 3, stride=2)
        self.stem3 = conv_relu(96, 96, 3, stride=2)
        self.stem4 = conv_relu(96, 128, 1)
        self.negate = ConcatNegation()
        self.block1 = InceptionSE(128)
        self.block2 = InceptionSE(256)
        self.block3 = InceptionSE(256)

    def forward(self, x):
        return self.features(x)[1]

    def features(self, x):
        """(stride-4 stem features [N, 96, H/4, W/4], stride-8 features [N, 256, H/8, W/8])."""
        maps = self.stage_maps(x)
        return maps[0], maps[-1]

    def stage_maps(self, x):
        """The stride-4 stem map, the stem's stride-8 output and each Inception block's output, in order."""
        x = self.negate(self.stem1(x))
        maps = [self.negate(self.stem2(x))]
        maps.append(self.stem4(self.stem3(maps[0])))
        for block in (self.block1, self.block2, self.block3):
            maps.append(block(maps[-1]))
        return maps


def concat_levels(outs):
    """Per-level (loc, conf, landmarks) -> the three outputs over all priors, in level order."""
    return tuple(paddle.concat([o[i] for o in outs], axis=1) for i in range(3))


def no_context_blocks(arch, detector_config):
    """Only PyramidBoxLiteCrowd has a stride-4 fusion to put context blocks after: refuse the key elsewhere
    instead of building a network without the blocks the config asks for."""
    if detector_config.context_blocks:
        raise ValueError('%s has no stride-4 fusion: context_blocks needs architecture PyramidBoxLiteCrowd'
                         % arch.__name__)


def landmark_option(detector_config):
    """The constructor option for ``landmark_heads: false``; none when the config keeps the official heads."""
    return {} if detector_config.landmark_heads else {'landmark_heads': False}


class PyramidBoxLiteMobile(nn.Layer):
    """The official mobile detector: heads at stride 8 (3 anchors) and stride 16 (2 anchors, strided conv).
    With ``landmark_heads=False`` both are ``BoxOnlyHead``s: the same boxes and scores without the landmark
    convs, which nothing reads."""

    LEVEL_STRIDES = (8, 16)

    def __init__(self, anchors_per_level=(3, 2), landmark_heads=True):
        super().__init__()
        self.backbone = Backbone()
        head = DetectionHead if landmark_heads else BoxOnlyHead
        self.head8 = head(256, anchors_per_level[0])
        self.head16 = head(256, anchors_per_level[1], stride=2)

    @classmethod
    def from_config(cls, detector_config):
        strides = tuple(s for s, _ in detector_config.prior_box)
        if strides != cls.LEVEL_STRIDES:
            raise ValueError('%s needs prior levels at strides %s, got %s' % (cls.__name__, cls.LEVEL_STRIDES, strides))
        return cls(detector_config.anchors_per_level, **cls.base_options(detector_config))

    @classmethod
    def base_options(cls, detector_config):
        """Constructor options, other than the anchors, that the config sets."""
        no_context_blocks(cls, detector_config)
        return landmark_option(detector_config)

    def forward(self, image):
        return self.detect_levels(image)

    def detect_levels(self, image):
        feat8 = self.backbone(image)
        outs = [self.head8(feat8), self.head16(feat8)]
        return concat_levels(outs)


class ContextBlock(nn.Layer):
    """Residual depthwise-separable 3x3 block: more receptive field and nonlinearity at stride 4 for little
    compute (a tenth of a full 3x3 conv at 64 channels). The pointwise conv starts at zero, so a new block is
    the identity and weights trained without it load unchanged."""

    def __init__(self, ch):
        super().__init__()
        self.depthwise = nn.Conv2D(ch, ch, 3, padding=1, groups=ch)
        self.pointwise = nn.Conv2D(ch, ch, 1, weight_attr=nn.initializer.Constant(0.0),
                                   bias_attr=nn.initializer.Constant(0.0))

    def forward(self, x):
        return F.relu(x + self.pointwise(F.relu(self.depthwise(x))))


class TopDownFusion(nn.Layer):
    """Stride-4 features for small faces: the stem's stride-4 map (edges, little context) plus the
    stride-8 output of the Inception blocks upsampled 2x (context), as in PyramidBox's low-level feature
    pyramid, then ``context_blocks`` residual blocks. The upsampled map is cut to the stride-4 size (it is
    one cell larger where H/4 is odd)."""

    def __init__(self, fine_ch=96, coarse_ch=256, out_ch=64, context_blocks=0):
        super().__init__()
        self.lateral = nn.Conv2D(fine_ch, out_ch, 1)
        self.top_down = nn.Conv2D(coarse_ch, out_ch, 1)
        self.smooth = conv_relu(out_ch, out_ch, 3)
        self.context = nn.Sequential(*[ContextBlock(out_ch) for _ in range(context_blocks)])

    def forward(self, fine, coarse):
        up = F.interpolate(self.top_down(coarse), scale_factor=2, mode='nearest')
        size = paddle.shape(fine)
        up = paddle.slice(up, axes=[2, 3], starts=[0, 0], ends=[size[2], size[3]])
        return self.context(self.smooth(F.relu(self.lateral(fine) + up)))


class BoxOnlyHead(DetectionHead):
    """A head without landmark regression: its landmark output is zeros (nothing uses them), which keeps
    the three-output layout of the other levels at no convolution cost."""

    def __init__(self, in_ch, num_anchors, stride=1):
        nn.Layer.__init__(self)
        self.loc = nn.Conv2D(in_ch, num_anchors * 4, 3, stride=stride, padding=1)
        self.conf = nn.Conv2D(in_ch, num_anchors * 2, 3, stride=stride, padding=1)

    def forward(self, x):
        loc, conf = self._flatten(self.loc(x), 4), self._flatten(self.conf(x), 2)
        return loc, conf, paddle.tile(conf[:, :, :1], [1, 1, 10]) * 0.0


class PyramidBoxLiteCrowd(PyramidBoxLiteMobile):
    """The mobile detector with a stride-4 level for small faces (maskhub ``mobile_crowd``).

    Levels: stride 4 (anchors 4-8 px) on a top-down fusion of the stem's stride-4 map with the stride-8
    features; then the official stride-8 and stride-16 heads, unchanged (same parameter names: the
    official weights load as they are). About 1.3x the mobile network's multiply-adds: the fusion works
    at 64 channels, and the new head regresses boxes only.
    """

    def __init__(self, anchors_per_level=(2, 3, 2), neck_channels=64, context_blocks=0, landmark_heads=True):
        if len(anchors_per_level) != 3:
            raise ValueError('PyramidBoxLiteCrowd has three prior levels (strides 4, 8, 16), got %d'
                             % len(anchors_per_level))
        super().__init__(anchors_per_level[1:], landmark_heads)
        self.fusion4 = TopDownFusion(out_ch=neck_channels, context_blocks=context_blocks)
        self.head4 = BoxOnlyHead(neck_channels, anchors_per_level[0])

    LEVEL_STRIDES = (4, 8, 16)

    @classmethod
    def base_options(cls, detector_config):
        return {'context_blocks': detector_config.context_blocks, **landmark_option(detector_config)}

    def detect_levels(self, image):
        return self.levels_from_features(*self.backbone.features(image))

    def levels_from_features(self, feat4, feat8):
        """(loc, conf, landmarks) of all levels from the backbone's two feature maps."""
        outs = [self.small_face_level(feat4, feat8), self.head8(feat8), self.head16(feat8)]
        return concat_levels(outs)

    def small_face_level(self, feat4, feat8):
        """The stride-4 level's (loc, conf, landmarks) from the backbone's two feature maps."""
        return self.head4(self.fusion4(feat4, feat8))


class FullResolutionStem(nn.Layer):
    """The mobile network's first conv (3x3, stride 2, 16 channels, ReLU) for an image read at twice the
    resolution: a 6x6 stride-4 conv, which ``state_from_half_resolution`` sets to compute exactly what the 3x3
    conv computes on the 2x2-averaged image (even sizes), plus a detail branch (3x3 stride-2 conv at half the
    input resolution, then a 3x3 stride-2 conv that starts at zero) that can add what the averaging loses.
    Output: ceil(H/4) x ceil(W/4), as two stride-2 convs give, so the prior grids stay those of the config."""

    def __init__(self, out_ch=16, detail_ch=16):
        super().__init__()
        self.conv = nn.Conv2D(3, out_ch, 6, stride=4, padding=[2, 3, 2, 3])
        self.detail = conv_relu(3, detail_ch, 3, stride=2)
        self.detail_out = nn.Conv2D(detail_ch, out_ch, 3, stride=2, padding=1,
                                    weight_attr=nn.initializer.Constant(0.0), bias_attr=False)

    def forward(self, x):
        return F.relu(self.conv(x) + self.detail_out(self.detail(x)))

    @staticmethod
    def weights_from_half_resolution(weight):
        """[C, 3, 3, 3] weights of the half-resolution 3x3 conv -> [C, 3, 6, 6]: each tap over a 2x2 block,
        averaged."""
        return weight.repeat(2, axis=2).repeat(2, axis=3) / 4.0


class PyramidBoxLiteCrowdFullRes(PyramidBoxLiteCrowd):
    """``PyramidBoxLiteCrowd`` on the image read at twice the resolution (config ``input_scale: 2``): the first
    stem conv is a ``FullResolutionStem``, so every later layer has the tensor sizes it has on the half-size
    image and the levels sit at strides 8, 16, 32 of the input (anchors in input pixels, twice the half-size
    network's). Small faces are read from the image's own pixels instead of a 2x-downsampled copy, for the
    extra cost of the stem alone."""

    LEVEL_STRIDES = (8, 16, 32)

    def __init__(self, anchors_per_level=(2, 3, 2), neck_channels=64, context_blocks=0, landmark_heads=True):
        super().__init__(anchors_per_level, neck_channels, context_blocks, landmark_heads)
        self.backbone.stem1 = FullResolutionStem()

    @classmethod
    def state_from_half_resolution(cls, state):
        """A ``PyramidBoxLiteCrowd`` state dict -> this network's (the detail branch left out: it keeps its own
        initialisation, whose output is zero). Loaded, it detects what the half-resolution network detects on
        the 2x2-averaged image."""
        out = {k: v for k, v in state.items() if not k.startswith('backbone.stem1.')}
        weight = np.asarray(state['backbone.stem1.0.weight'])
        out['backbone.stem1.conv.weight'] = FullResolutionStem.weights_from_half_resolution(weight).astype(weight.dtype)
        out['backbone.stem1.conv.bias'] = np.asarray(state['backbone.stem1.0.bias'])
        return out


class ImagePyramid:
    """Runs a base network on an image pyramid with shared weights (mixed in before the base class).

    Each pyramid scale contributes one group of prior levels in the config: the base network's levels at
    strides ``base stride / scale``, largest scale first. A 2x path (bilinear upsampling) gives faces of
    4-16 px a feature grid and anchors fine enough for them; the 1x path is the base network itself; 0.5x
    and 0.25x paths (2x2 average pooling, once or twice, rounding up like the network's own stride-2 convs)
    add anchors for larger faces. The round-8 server has no 2x path: it reads the image at twice the
    shrink instead (``input_scale``), so its finest path sees real pixels. Same parameters as the base
    network; compute is the base network's times the sum of the scales squared.
    """

    SCALES = (2.0, 1.0, 0.5, 0.25)     # the base network's LEVEL_STRIDES come from the class mixed in after this one

    def __init__(self, anchors_per_level, level_strides, **base_options):
        scales, base_anchors = self._pyramid_scales(anchors_per_level, level_strides)
        super().__init__(base_anchors, **base_options)
        self.scales = scales

    @classmethod
    def from_config(cls, detector_config):
        return cls(detector_config.anchors_per_level, tuple(s for s, _ in detector_config.prior_box),
                   **cls.base_options(detector_config))

    def _pyramid_scales(self, anchors_per_level, level_strides):
        n = len(self.LEVEL_STRIDES)
        groups = [tuple(level_strides[i:i + n]) for i in range(0, len(level_strides), n)]
        anchor_groups = {tuple(anchors_per_level[i:i + n]) for i in range(0, len(anchors_per_level), n)}
        scales = tuple(self.LEVEL_STRIDES[0] / group[0] for group in groups)
        if (len(level_strides) != len(anchors_per_level) or not groups or len(level_strides) % n
                or len(anchor_groups) != 1 or not set(scales) <= set(self.SCALES) or len(set(scales)) != len(scales)
                or any(tuple(s * scale for s in group) != self.LEVEL_STRIDES for group, scale in zip(groups, scales))):
            raise ValueError('the server runs one network on an image pyramid: its prior levels must come in groups '
                             'at strides %s / scale for distinct scales in %s, each group with the same anchors; '
                             'got strides %s with %s anchors per level'
                             % (self.LEVEL_STRIDES, self.SCALES, tuple(level_strides), tuple(anchors_per_level)))
        return scales, anchors_per_level[:n]

    @staticmethod
    def rescale(image, scale):
        if scale == 2.0:
            return F.interpolate(image, scale_factor=2, mode='bilinear', align_corners=False)
        while scale < 1.0:
            image = F.avg_pool2d(image, 2, stride=2, ceil_mode=True, exclusive=True)
            scale *= 2
        return image

    def forward(self, image):
        outs = [self.detect_levels(self.rescale(image, scale)) for scale in self.scales]
        return concat_levels(outs)


class PyramidBoxLiteServer(ImagePyramid, PyramidBoxLiteMobile):
    """Server detector: the mobile network on an image pyramid (levels in pairs at strides 8/scale,
    16/scale). Its 2x path acts as stride-4 and stride-8 levels of the input with half-size anchors
    (4-16 px and 32-48 px), where the mobile network's smallest prior is 8 px on a stride-8 grid."""


class PyramidBoxLiteCrowdServer(ImagePyramid, PyramidBoxLiteCrowd):
    """Server detector on the mobile_crowd network: its three levels (strides 4, 8, 16) on each scale of an
    image pyramid, so the 2x path has mobile_crowd's stride-4 level at stride 2 of the input. The
    parameters are mobile_crowd's: its weights load as they are."""
