"""``PyramidBoxLiteCrowdSeparable``: the mobile_crowd network made cheap enough to run on the photo at full size.

Reading the photo at full size (config ``input_scale: 2`` at the default shrink 0.5) costs four times the
multiply-adds; this network gets them back where they are spent, with layers that start from a trained
``PyramidBoxLiteCrowd`` (``state_from_dense``, below):

- every 3x3 conv after the stem's first becomes depthwise-separable (a depthwise 3x3 with ``rank`` filters per
  input channel, then a 1x1 conv), initialised from the dense conv by a rank-``rank`` SVD of each input channel's
  [out, 3x3] weight slice;
- the CReLU doubling [x, -x] before stem2, stem3 and the stride-4 lateral conv is folded into those convs
  (W[:, :C] - W[:, C:] on x alone: exact, half the input channels);
- the heads regress boxes and scores only (no landmarks: nothing reads them);
- the stride-4 level works at 40 channels instead of 64 (it runs on 16 times the cells of the stride-16 level),
  so it starts from random weights.

Detector compute at 320x240 (the network reading 640x480): 1.24 GMAC, 1.46x the official mobile network's 0.85.
Prior levels and tensor sizes are ``PyramidBoxLiteCrowd``'s (strides 4, 8, 16 of the network input).
"""
import numpy as np
import paddle.nn as nn

from maskhub.models.pyramidbox_lite import (Backbone, BoxOnlyHead, InceptionSE, PyramidBoxLiteCrowd, TopDownFusion,
                                            concat_levels, conv_relu)


class SeparableConv(nn.Layer):
    """k x k conv as depthwise (``rank`` filters per input channel, no bias) then pointwise (with bias)."""

    def __init__(self, in_ch, out_ch, kernel=3, stride=1, rank=1):
        super().__init__()
        self.depthwise = nn.Conv2D(in_ch, in_ch * rank, kernel, stride=stride, padding=kernel // 2, groups=in_ch,
                                   bias_attr=False)
        self.pointwise = nn.Conv2D(in_ch * rank, out_ch, 1)
        self.rank = rank

    def forward(self, x):
        return self.pointwise(self.depthwise(x))

    @staticmethod
    def weights_from_dense(weight, bias, rank):
        """Dense [out, in, k, k] weights -> (depthwise [in*rank, 1, k, k], pointwise [out, in*rank, 1, 1], bias):
        per input channel, the best rank-``rank`` approximation (SVD) of its [out, k*k] slice."""
        out_ch, in_ch, kh, kw = weight.shape
        depthwise = np.zeros((in_ch * rank, 1, kh, kw), np.float32)
        pointwise = np.zeros((out_ch, in_ch * rank, 1, 1), np.float32)
        for i in range(in_ch):
            u, s, vt = np.linalg.svd(weight[:, i].reshape(out_ch, kh * kw).astype(np.float64), full_matrices=False)
            for j in range(min(rank, len(s))):      # a head conv with fewer outputs than taps: the rest stays 0
                root = np.sqrt(s[j])
                depthwise[i * rank + j, 0] = (vt[j] * root).reshape(kh, kw)
                pointwise[:, i * rank + j, 0, 0] = u[:, j] * root
        return depthwise, pointwise, np.asarray(bias, np.float32)


def separable_relu(rank):
    def build(in_ch, out_ch, kernel, stride=1):
        if kernel == 1:
            return conv_relu(in_ch, out_ch, 1, stride)
        return nn.Sequential(SeparableConv(in_ch, out_ch, kernel, stride, rank), nn.ReLU())
    return build


class SeparableBackbone(Backbone):
    """The mobile backbone with separable 3x3 convs after stem1 and the CReLU doublings folded away.
    ``features`` returns (stride-4 map [N, 48, H/4, W/4] = relu(stem2), stride-8 features [N, 256, H/8, W/8])."""

    def __init__(self, stem_rank=2, block_rank=1):
        nn.Layer.__init__(self)
        stem = separable_relu(stem_rank)
        self.stem1 = conv_relu(3, 16, 3, stride=2)
        self.stem2 = stem(16, 48, 3, stride=2)
        self.stem3 = stem(48, 96, 3, stride=2)
        self.stem4 = conv_relu(96, 128, 1)
        self.negate = nn.Identity()         # folded into stem2, stem3 and the stride-4 lateral conv
        block = separable_relu(block_rank)
        self.block1 = InceptionSE(128, conv=block)
        self.block2 = InceptionSE(256, conv=block)
        self.block3 = InceptionSE(256, conv=block)



class SeparableBoxHead(BoxOnlyHead):
    """Box and score convs of one level, depthwise-separable; landmarks zeros (as ``BoxOnlyHead``)."""

    def __init__(self, in_ch, num_anchors, stride=1, rank=1):
        nn.Layer.__init__(self)
        self.loc = SeparableConv(in_ch, num_anchors * 4, 3, stride, rank)
        self.conf = SeparableConv(in_ch, num_anchors * 2, 3, stride, rank)


class SeparableFusion(TopDownFusion):
    """``TopDownFusion`` on the folded stride-4 map (48 channels) with a separable smoothing conv."""

    def __init__(self, out_ch=64, rank=1):
        nn.Layer.__init__(self)
        self.lateral = nn.Conv2D(48, out_ch, 1)
        self.top_down = nn.Conv2D(256, out_ch, 1)
        self.smooth = separable_relu(rank)(out_ch, out_ch, 3)
        self.context = nn.Sequential()


# dense layers whose input is a CReLU doubling [x, -x]: their weights fold to W[:, :C] - W[:, C:]
_FOLDED = ('backbone.stem2.0', 'backbone.stem3.0', 'fusion4.lateral')


class PyramidBoxLiteCrowdSeparable(PyramidBoxLiteCrowd):
    """``PyramidBoxLiteCrowd`` with separable convs, folded CReLUs and box-only heads (module docstring)."""

    def __init__(self, anchors_per_level=(2, 3, 2), neck_channels=40, context_blocks=0, stem_rank=2, block_rank=1,
                 head_rank=1):
        """The ranks and ``neck_channels`` are fixed for a config (its weights need them); at rank 9 and 64
        channels ``state_from_dense`` is exact, which the tests use."""
        if context_blocks:
            raise ValueError('PyramidBoxLiteCrowdSeparable has no context blocks')
        nn.Layer.__init__(self)
        if len(anchors_per_level) != 3:
            raise ValueError('PyramidBoxLiteCrowdSeparable has three prior levels (strides 4, 8, 16), got %d'
                             % len(anchors_per_level))
        self.backbone = SeparableBackbone(stem_rank, block_rank)
        self.fusion4 = SeparableFusion(neck_channels, head_rank)
        self.head4 = SeparableBoxHead(neck_channels, anchors_per_level[0], rank=head_rank)
        self.head8 = SeparableBoxHead(256, anchors_per_level[1], rank=head_rank)
        self.head16 = SeparableBoxHead(256, anchors_per_level[2], stride=2, rank=head_rank)

    @classmethod
    def base_options(cls, detector_config):
        # the heads regress no landmarks whatever ``landmark_heads`` says
        return {'context_blocks': detector_config.context_blocks}

    def state_from_dense(self, dense_state):
        """The tensors of this network that a ``PyramidBoxLiteCrowd`` state dict gives: folded and factorised as
        the module docstring says, the others as they are; landmark heads and layers whose shape differs (the
        narrower stride-4 level) are left out."""
        dense = {k: np.asarray(v) for k, v in dense_state.items()}
        if any(prefix + '.weight' not in dense for prefix in _FOLDED + ('backbone.block3.conv1x1.0',)):
            raise ValueError('not PyramidBoxLiteCrowd weights (no %s)' % ', '.join(_FOLDED))
        for prefix in _FOLDED:
            w = dense[prefix + '.weight']
            half = w.shape[1] // 2
            dense[prefix + '.weight'] = w[:, :half] - w[:, half:]
        own = self.state_dict()
        out = {}
        for name, layer in self.named_sublayers():
            if isinstance(layer, SeparableConv) and name + '.weight' in dense:
                dw, pw, b = SeparableConv.weights_from_dense(dense[name + '.weight'], dense[name + '.bias'], layer.rank)
                out.update({name + '.depthwise.weight': dw, name + '.pointwise.weight': pw,
                            name + '.pointwise.bias': b})
        for key in own:
            if key not in out and key in dense:
                out[key] = dense[key]
        return {k: v for k, v in out.items() if list(v.shape) == list(own[k].shape)}


class PyramidBoxLiteCrowdSeparableWide(PyramidBoxLiteCrowdSeparable):
    """``PyramidBoxLiteCrowdSeparable`` plus a stride-32 level (config priors 128 and 192 px of network input) for
    large faces. The separable network reads the photo at twice the shrink with priors of at most 96 px, so at the
    default shrink 0.5 a face wider than about 130 px of the photo matches no prior (round 12: recall of faces
    >= 64 px 58 vs 88 for the full-resolution-stem network). The new level is the stride-16 head's layout on the
    stride-8 features average-pooled 2x2: about 0.002 GMAC at 320x240."""

    LEVEL_STRIDES = (4, 8, 16, 32)

    def __init__(self, anchors_per_level=(2, 3, 2, 2), neck_channels=40, context_blocks=0, stem_rank=2, block_rank=1,
                 head_rank=1):
        if len(anchors_per_level) != 4:
            raise ValueError('PyramidBoxLiteCrowdSeparableWide has four prior levels (strides 4, 8, 16, 32), got %d'
                             % len(anchors_per_level))
        super().__init__(anchors_per_level[:3], neck_channels, context_blocks, stem_rank, block_rank, head_rank)
        # ceil_mode: an odd stride-8 map gives the ceil(h / 2) cells that priors.feature_sizes counts
        self.pool16 = nn.AvgPool2D(2, stride=2, ceil_mode=True)
        self.head32 = SeparableBoxHead(256, anchors_per_level[3], stride=2, rank=head_rank)

    def levels_from_features(self, feat4, feat8):
        outs = [self.small_face_level(feat4, feat8), self.head8(feat8), self.head16(feat8),
                self.head32(self.large_face_features(feat8))]
        return concat_levels(outs)

    def large_face_features(self, feat8):
        """What the stride-32 head reads (at stride 16: the head's conv has stride 2)."""
        return self.pool16(feat8)

    @staticmethod
    def state_with_large_face_level(state):
        """A ``PyramidBoxLiteCrowdSeparable`` state dict plus the stride-32 head, started as a copy of the stride-16
        head: the same anchors per cell at twice the size on a grid twice as coarse, and box offsets are relative
        to the prior, so its regression carries over."""
        if not any(k.startswith('head16.') for k in state) or any(k.startswith('head32.') for k in state):
            raise ValueError('not PyramidBoxLiteCrowdSeparable weights (need head16, no head32)')
        out = dict(state)
        out.update({'head32.' + k[len('head16.'):]: v for k, v in state.items() if k.startswith('head16.')})
        return out


class BottleneckContext(nn.Layer):
    """Residual bottleneck for a coarse level: depthwise 3x3 on all channels, 1x1 down to ``mid``, depthwise 3x3 at
    dilation 2, 1x1 back up. Adds receptive field for little compute (at stride 16, +6 cells of 16 px). The last
    conv starts at zero, so the block starts as the identity and weights trained without it load unchanged."""

    def __init__(self, ch, mid):
        super().__init__()
        self.depthwise = nn.Conv2D(ch, ch, 3, padding=1, groups=ch, bias_attr=False)
        self.down = nn.Conv2D(ch, mid, 1)
        self.dilated = nn.Conv2D(mid, mid, 3, padding=2, dilation=2, groups=mid)
        self.up = nn.Conv2D(mid, ch, 1, weight_attr=nn.initializer.Constant(0.0),
                            bias_attr=nn.initializer.Constant(0.0))

    def forward(self, x):
        hidden = nn.functional.relu(self.dilated(nn.functional.relu(self.down(self.depthwise(x)))))
        return x + self.up(hidden)


class PyramidBoxLiteCrowdSeparableWideContext(PyramidBoxLiteCrowdSeparableWide):
    """``PyramidBoxLiteCrowdSeparableWide`` with a ``BottleneckContext`` between the 2x2 pooling and the stride-32
    head. Round 13's stride-32 level read the stride-8 features, whose receptive field is narrower than its 128-192
    px priors: most of its false positives at score 0.5 were off-face or parts of faces larger than it. Starts as
    the round-13 network (the block is the identity), 0.02 GMAC more at 320x240."""

    def __init__(self, anchors_per_level=(2, 3, 2, 2), neck_channels=40, context_blocks=0, stem_rank=2, block_rank=1,
                 head_rank=1, context_channels=32):
        super().__init__(anchors_per_level, neck_channels, context_blocks, stem_rank, block_rank, head_rank)
        self.context32 = BottleneckContext(256, context_channels)

    def large_face_features(self, feat8):
        return self.context32(self.pool16(feat8))
