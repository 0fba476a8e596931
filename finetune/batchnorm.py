"""BatchNorm re-inserted as the identity into BN-folded pretrained convolutions, and folded back out.

The official weights have BN folded into every conv (conv + bias, no BN layer). ``train.identity_bn``
in a detector config wraps the convs of the named layers in ``ConvBN``: the pretrained conv followed
by a BatchNorm whose running statistics and affine start as the identity. In eval mode the network
then computes exactly what it did before; in train mode the BN normalises with batch statistics.
``folded_state_dict`` folds the BN back into conv weights under the original parameter names, so
checkpoints load into the unchanged architecture (and export to Paddle-Lite as before).
"""
import paddle
import paddle.nn as nn

EPSILON = 1e-5


class ConvBN(nn.Layer):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv
        channels = conv.weight.shape[0]
        self.bn = nn.BatchNorm2D(channels, epsilon=EPSILON)
        # identity at eval time: (x - 0) / sqrt((1 - eps) + eps) * 1 + 0
        self.bn._variance.set_value(paddle.full([channels], 1.0 - EPSILON, 'float32'))

    def forward(self, x):
        return self.bn(self.conv(x))

    def folded(self):
        """(weight, bias) of one conv that computes conv + BN with the BN's running statistics."""
        scale = self.bn.weight / paddle.sqrt(self.bn._variance + EPSILON)
        weight = self.conv.weight * scale.reshape([-1, 1, 1, 1])
        bias = (self.conv.bias - self.bn._mean) * scale + self.bn.bias
        return weight, bias


def insert_identity_bn(model, prefixes):
    """Wrap every spatial conv (not the squeeze-excitation 1x1 gates, which see a 1x1 map) of the
    sublayers named by ``prefixes`` in ``ConvBN``; return how many were wrapped."""
    wrapped = 0
    for name, layer in list(model.named_sublayers()):
        if not any(name == p or name.startswith(p + '.') for p in prefixes):
            continue
        for child_name, child in list(layer.named_children()):
            if isinstance(child, nn.Conv2D) and not child_name.startswith('se_'):
                layer._sub_layers[child_name] = ConvBN(child)
                wrapped += 1
    return wrapped


def folded_state_dict(model):
    """The model's state dict with every ``ConvBN`` folded into its conv, under the conv's own names."""
    state = dict(model.state_dict())
    for name, layer in model.named_sublayers():
        if isinstance(layer, ConvBN):
            for key in [k for k in state if k.startswith(name + '.')]:
                del state[key]
            weight, bias = layer.folded()
            state[name + '.weight'], state[name + '.bias'] = weight.detach(), bias.detach()
    return state
