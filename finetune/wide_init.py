"""Initial weights for ``PyramidBoxLiteCrowdSeparableWide`` from trained ``PyramidBoxLiteCrowdSeparable``
checkpoints: their mean, plus the stride-32 head started as a copy of the stride-16 one.

    python -m finetune.wide_init --weights finetune/checkpoints/mobile_crowd_round12/epoch_9.pdparams \
        finetune/checkpoints/mobile_crowd_round12/epoch_10.pdparams \
        --out finetune/weights/mobile_crowd_round13_init_detector.pdparams
"""
import argparse

import paddle

from finetune.package import averaged_state, set_state_strict
from maskhub.config import load_builtin_config
from maskhub.models import build_detector
from maskhub.models.pyramidbox_lite_separable import PyramidBoxLiteCrowdSeparableWide


def wide_state(separable_weights, config='pyramidbox_lite_crowd_separable_wide'):
    """State dict of the ``config`` network: the mean of ``separable_weights`` and the copied stride-32 head
    (checked to load into that network with nothing missing)."""
    state = PyramidBoxLiteCrowdSeparableWide.state_with_large_face_level(averaged_state(separable_weights))
    network = build_detector(load_builtin_config(config).detector)
    return set_state_strict(network, state, separable_weights[0]).state_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--weights', nargs='+', required=True, help='PyramidBoxLiteCrowdSeparable detector .pdparams')
    parser.add_argument('--out', required=True, help='where to write the wide network .pdparams')
    parser.add_argument('--config', default='pyramidbox_lite_crowd_separable_wide')
    args = parser.parse_args(argv)
    paddle.save(wide_state(args.weights, args.config), args.out)
    print('wrote %s' % args.out)


if __name__ == '__main__':
    main()
