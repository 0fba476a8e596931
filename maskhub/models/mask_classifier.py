"""The 128×128 mask / no-mask classifier of Baidu's ``pyramidbox_lite_mobile_mask`` module.

Written from ``shared/official_pyramidbox_lite/classifier.json`` (BatchNorm folded into the convs).
``forward`` returns logits [N, 2]: index 0 'NO MASK', 1 'MASK'.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

# (in, expand, out, stride) of the seven inverted-residual blocks, in graph order
MOBILE_BLOCKS = ((32, 32, 32, 2), (32, 128, 32, 1), (32, 128, 48, 2), (48, 192, 48, 1),
                 (48, 192, 64, 2), (64, 192, 32, 1), (32, 128, 32, 2))


class InvertedResidual(nn.Layer):
    def __init__(self, in_ch, expand_ch, out_ch, stride):
        super().__init__()
        self.expand = nn.Conv2D(in_ch, expand_ch, 1)
        self.depthwise = nn.Conv2D(expand_ch, expand_ch, 3, stride=stride, padding=1, groups=expand_ch)
        self.project = nn.Conv2D(expand_ch, out_ch, 1)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x):
        y = self.project(F.relu(self.depthwise(F.relu(self.expand(x)))))
        return x + y if self.use_residual else y


class MaskClassifier(nn.Layer):
    def __init__(self, blocks=MOBILE_BLOCKS, stem_channels=16, num_classes=2, input_size=128):
        super().__init__()
        self.stem = nn.Conv2D(3, stem_channels, 3, stride=2, padding=1)
        self.blocks = nn.Sequential(*[InvertedResidual(*b) for b in blocks])
        total_stride = 2 * 2 ** sum(1 for b in blocks if b[3] == 2)
        side = input_size // total_stride
        self.fc = nn.Linear(blocks[-1][2] * side * side, num_classes)

    def forward(self, crops):
        x = self.stem(crops)
        x = F.relu(paddle.concat([x, -x], axis=1))
        x = self.blocks(x)
        return self.fc(paddle.flatten(x, 1))
