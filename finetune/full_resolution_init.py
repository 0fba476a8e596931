"""Initial weights for a full-resolution-stem detector (``PyramidBoxLiteCrowdFullRes``) from a trained
``PyramidBoxLiteCrowd``: the stem's first conv converted so that, untrained, it detects what the half-size
network detects at the same caller shrink; the detail branch at its own initialisation (output zero).

    python -m finetune.full_resolution_init --weights hub_modules/pyramidbox_lite_mobile_crowd_mask/model/detector.pdparams \
        --out finetune/weights/mobile_crowd_round10_init_detector.pdparams
"""
import argparse

import paddle

from maskhub.config import load_builtin_config
from maskhub.models import build_detector
from maskhub.models.pyramidbox_lite import PyramidBoxLiteCrowdFullRes


def full_resolution_state(half_resolution_weights, config='pyramidbox_lite_crowd_fullres', seed=10):
    """The full state dict of the ``config`` network with the converted weights of ``half_resolution_weights``."""
    paddle.seed(seed)
    network = build_detector(load_builtin_config(config).detector)
    converted = PyramidBoxLiteCrowdFullRes.state_from_half_resolution(paddle.load(str(half_resolution_weights)))
    missing = set(network.state_dict()) - set(converted)
    if any(not k.startswith('backbone.stem1.detail') for k in missing):
        raise ValueError('%s lacks %s: not PyramidBoxLiteCrowd weights' % (half_resolution_weights, sorted(missing)))
    network.set_state_dict(converted)
    return network.state_dict()


def conversion_arguments(description, network, config, seed, argv=None):
    """The command line of a weight conversion (``--weights`` in, ``--out``, ``--config``, ``--seed``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--weights', required=True, help='PyramidBoxLiteCrowd detector .pdparams')
    parser.add_argument('--out', required=True, help='where to write the %s .pdparams' % network)
    parser.add_argument('--config', default=config)
    parser.add_argument('--seed', type=int, default=seed, help='initialisation of the layers not converted')
    return parser.parse_args(argv)


def main(argv=None):
    args = conversion_arguments(__doc__.split('\n\n')[0], 'full-resolution', 'pyramidbox_lite_crowd_fullres', 10, argv)
    paddle.save(full_resolution_state(args.weights, args.config, args.seed), args.out)
    print('wrote %s' % args.out)


if __name__ == '__main__':
    main()
