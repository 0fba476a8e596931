"""PyramidBox-lite face detectors.

``PyramidBoxLiteMobile`` is the network of Baidu's ``pyramidbox_lite_mobile`` module, written from
the op graph in ``shared/official_pyramidbox_lite/detector.json``. BatchNorm is folded into the
convolution weights of the published model, so every conv carries a bias and no BN layer exists.

``PyramidBoxLiteServer`` widens it for servers: an extra stride-4 head for tiny faces fed with
upsampled (LFPN-style) context from the stride-8 features. Every layer the two share keeps the
mobile name, so the mobile weights initialise the server model where shapes match.

Outputs of ``forward``: ``loc`` [N, P, 4], ``conf`` [N, P, 2] (logits), ``landmarks`` [N, P, 10],
with priors ordered level by level (smallest stride first), cell by cell, anchor by anchor.
"""
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
    """Four 64-channel branches (pool→1×1, 1×1, 1×1→3×3, 1×1→3×3→3×3) and a squeeze-excitation gate."""

    def __init__(self, in_ch):
        super().__init__()
        self.pool_branch = conv_relu(in_ch, 64, 1)
        self.conv1x1 = conv_relu(in_ch, 64, 1)
        self.conv3x3 = nn.Sequential(conv_relu(in_ch, 48, 1), conv_relu(48, 64, 3))
        self.conv5x5 = nn.Sequential(conv_relu(in_ch, 48, 1), conv_relu(48, 64, 3), conv_relu(64, 64, 3))
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
        x = self.negate(self.stem1(x))
        x = self.negate(self.stem2(x))
        x = self.stem4(self.stem3(x))
        return self.block3(self.block2(self.block1(x)))


class PyramidBoxLiteMobile(nn.Layer):
    """The official mobile detector: heads at stride 8 (3 anchors) and stride 16 (2 anchors, strided conv)."""

    def __init__(self, anchors_per_level=(3, 2)):
        super().__init__()
        self.backbone = Backbone()
        self.head8 = DetectionHead(256, anchors_per_level[0])
        self.head16 = DetectionHead(256, anchors_per_level[1], stride=2)

    def forward(self, image):
        feat8 = self.backbone(image)
        outs = [self.head8(feat8), self.head16(feat8)]
        return tuple(paddle.concat([o[i] for o in outs], axis=1) for i in range(3))


class PyramidBoxLiteServer(PyramidBoxLiteMobile):
    """Mobile network plus a stride-4 level for tiny faces.

    The stride-4 features come from the stem's stride-4 output (96 channels) fused with the upsampled
    stride-8 context (LFPN style); the head there has one anchor per size in ``anchors_per_level[0]``.
    """

    def __init__(self, anchors_per_level=(2, 3, 2), fpn_channels=64):
        super().__init__(anchors_per_level[1:])
        self.lateral4 = nn.Conv2D(96, fpn_channels, 1)
        self.context8 = nn.Conv2D(256, fpn_channels, 1)
        self.fuse4 = conv_relu(fpn_channels, fpn_channels, 3)
        self.head4 = DetectionHead(fpn_channels, anchors_per_level[0])

    def forward(self, image):
        bb = self.backbone
        x = bb.negate(bb.stem1(image))
        feat4 = bb.negate(bb.stem2(x))
        feat8 = bb.block3(bb.block2(bb.block1(bb.stem4(bb.stem3(feat4)))))
        context = F.interpolate(self.context8(feat8), size=paddle.shape(feat4)[2:], mode='nearest')
        fused = self.fuse4(F.relu(self.lateral4(feat4) + context))
        outs = [self.head4(fused), self.head8(feat8), self.head16(feat8)]
        return tuple(paddle.concat([o[i] for o in outs], axis=1) for i in range(3))
