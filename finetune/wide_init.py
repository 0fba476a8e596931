"""Initial weights for the separable networks with a stride-32 level, from trained checkpoints (their mean):

- ``PyramidBoxLiteCrowdSeparableWide`` from ``PyramidBoxLiteCrowdSeparable`` weights: the stride-32 head started
  as a copy of the stride-16 one;
- ``PyramidBoxLiteCrowdSeparableWideContext`` (``--context``) from ``PyramidBoxLiteCrowdSeparableWide`` weights:
  the context block before the stride-32 head started as the identity.

    python -m finetune.wide_init --weights finetune/checkpoints/mobile_crowd_round12/epoch_9.pdparams \
        finetune/checkpoints/mobile_crowd_round12/epoch_10.pdparams \
        --out finetune/weights/mobile_crowd_round13_init_detector.pdparams
    python -m finetune.wide_init --context --weights finetune/checkpoints/mobile_crowd_round13/epoch_5.pdparams \
        finetune/checkpoints/mobile_crowd_round13/epoch_6.pdparams \
        --out finetune/weights/mobile_crowd_round14_init_detector.pdparams
"""
import argparse

import paddle

from finetune.package import averaged_state, set_state_strict
from maskhub.config import load_builtin_config
from maskhub.models import build_detector
from maskhub.models.pyramidbox_lite_separable import PyramidBoxLiteCrowdSeparableWide

WIDE = 'pyramidbox_lite_crowd_separable_wide'
WIDE_CONTEXT = 'pyramidbox_lite_crowd_separable_wide_context'


def wide_state(separable_weights, config=WIDE):
    """State dict of the ``config`` network: the mean of ``separable_weights`` and the copied stride-32 head
    (checked to load into that network with nothing missing)."""
    state = PyramidBoxLiteCrowdSeparableWide.state_with_large_face_level(averaged_state(separable_weights))
    network = build_detector(load_builtin_config(config).detector)
    return set_state_strict(network, state, separable_weights[0]).state_dict()


def wide_context_state(wide_weights, config=WIDE_CONTEXT):
    """State dict of the ``config`` network: the mean of ``wide_weights`` (which must hold the stride-32 head and no
    context block) and the network's own identity-start ``context32``."""
    state = averaged_state(wide_weights)
    if not any(k.startswith('head32.') for k in state) or any(k.startswith('context32.') for k in state):
        raise ValueError('%s: not PyramidBoxLiteCrowdSeparableWide weights (need head32, no context32)'
                         % wide_weights[0])
    network = build_detector(load_builtin_config(config).detector)
    state = dict(state)
    state.update({k: v for k, v in network.state_dict().items() if k.startswith('context32.')})
    return set_state_strict(network, state, wide_weights[0]).state_dict()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--weights', nargs='+', required=True,
                        help='detector .pdparams to average (separable, or separable wide with --context)')
    parser.add_argument('--out', required=True, help='where to write the new network .pdparams')
    parser.add_argument('--context', action='store_true',
                        help='add the stride-32 context block to separable wide weights (default: add the stride-32 '
                             'level to separable weights)')
    parser.add_argument('--config', help='network config (default: %s, or %s with --context)' % (WIDE, WIDE_CONTEXT))
    args = parser.parse_args(argv)
    if args.context:
        state = wide_context_state(args.weights, args.config or WIDE_CONTEXT)
    else:
        state = wide_state(args.weights, args.config or WIDE)
    paddle.save(state, args.out)
    print('wrote %s' % args.out)


if __name__ == '__main__':
    main()
