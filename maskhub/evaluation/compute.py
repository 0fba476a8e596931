"""Compute cost of a detector: multiply-accumulates of one forward pass at a stated input size.

Counted with ``paddle.flops`` on the network the model config builds (weights do not change the
count): every ``nn.Conv2D`` / ``nn.Linear`` output element costs (input channels / groups) × kernel
area MACs plus one for the bias, BatchNorm two per element, pooling layers one per output element;
element-wise tensor ops (concat, SE gating, resizing) are not counted. A network that runs layers
several times (the server's image pyramid) is charged for every run.
"""
import contextlib
import io

GMAC_INPUT = (320, 240)     # width, height: a 640×480 frame at the default shrink 0.5


def detector_gmac(detector_config, width=GMAC_INPUT[0], height=GMAC_INPUT[1]):
    """GMAC (10^9 multiply-accumulates) of the detector network of ``detector_config`` on one
    ``width`` × ``height`` image already shrunk (a network with ``input_scale`` reads it that many times larger;
    with ``flip_test`` it runs twice)."""
    import paddle
    from maskhub.models import build_detector
    network = build_detector(detector_config)
    network.eval()
    with contextlib.redirect_stdout(io.StringIO()):      # paddle.flops prints a line per layer type
        scale = detector_config.input_scale
        macs = paddle.flops(network, [1, 3, int(height * scale), int(width * scale)])
    return macs / 1e9 * (2 if detector_config.flip_test else 1)
