"""Initial weights for ``PyramidBoxLiteCrowdSeparable`` from a trained ``PyramidBoxLiteCrowd``: CReLU doublings
folded, 3x3 convs factorised by SVD, 1x1 convs and biases as they are; the narrower stride-4 level at its own
(random) initialisation.

    python -m finetune.separable_init --weights finetune/weights/server_round8_detector.pdparams \
        --out finetune/weights/mobile_crowd_round11_init_detector.pdparams
"""
import paddle

from finetune.full_resolution_init import conversion_arguments
from finetune.train import background_prior_init
from maskhub.config import load_builtin_config
from maskhub.models import build_detector


def separable_state(dense_weights, config='pyramidbox_lite_crowd_separable', seed=11):
    """(full state dict of the ``config`` network with the converted tensors, names left at initialisation)."""
    paddle.seed(seed)
    network = build_detector(load_builtin_config(config).detector)
    converted = network.state_from_dense(paddle.load(str(dense_weights)))
    network.set_state_dict(converted)
    fresh = sorted(set(network.state_dict()) - set(converted))
    background_prior_init(network, fresh)
    return network.state_dict(), fresh


def main(argv=None):
    args = conversion_arguments(__doc__.split('\n\n')[0], 'separable network', 'pyramidbox_lite_crowd_separable', 11,
                                argv)
    state, fresh = separable_state(args.weights, args.config, args.seed)
    paddle.save(state, args.out)
    print('wrote %s (%d tensors, %d at initialisation: %s)' % (args.out, len(state), len(fresh), ', '.join(fresh)))


if __name__ == '__main__':
    main()
