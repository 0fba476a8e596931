"""Convert Baidu's PyramidBox-lite mobile weights (shared/official_pyramidbox_lite) to a maskhub model directory.

    python tools/convert_official_weights.py [--src ../shared/official_pyramidbox_lite] \
        [--out hub_modules/pyramidbox_lite_mobile_mask/model]

The npz files hold every parameter under its graph name with BatchNorm folded into the convs; the
graph (``*.json``) says which folded bias goes with which filter. Each of our layers is mapped to its
graph filter name below; biases are looked up from the graph.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # run as a script from a clone: its maskhub

import numpy as np  # noqa: E402
import paddle  # noqa: E402

from maskhub.config import load_builtin_config  # noqa: E402
from maskhub.inference.export import save_model_dir  # noqa: E402
from maskhub.models import build_classifier, build_detector  # noqa: E402

PREFIX_DET = '@HUB_pyramidbox_lite_mobile@'
PREFIX_CLS = '@HUB_pyramidbox_lite_mobile_mask@'


def _inception(block, first):
    c = ['conv2d_%d' % (first + i) for i in range(9)]
    return {f'{block}.pool_branch.0': c[0], f'{block}.conv1x1.0': c[1],
            f'{block}.conv3x3.0.0': c[2], f'{block}.conv3x3.1.0': c[3],
            f'{block}.conv5x5.0.0': c[4], f'{block}.conv5x5.1.0': c[5], f'{block}.conv5x5.2.0': c[6],
            f'{block}.se_reduce': c[7], f'{block}.se_expand': c[8]}


DETECTOR_FILTERS = {
    'backbone.stem1.0': 'conv2d_0', 'backbone.stem2.0': 'conv2d_1', 'backbone.stem3.0': 'conv2d_2',
    'backbone.stem4.0': 'conv2d_3',
    **_inception('backbone.block1', 4), **_inception('backbone.block2', 13), **_inception('backbone.block3', 22),
    'head8.loc': 'conv2d_31', 'head8.landmarks': 'conv2d_33', 'head8.conf': 'conv2d_34',
    'head16.loc': 'conv2d_36', 'head16.landmarks': 'conv2d_38', 'head16.conf': 'conv2d_39',
}

_CLS_BLOCKS = ['age_block1', 'age_block2', 'age_block3', 'age_block4', 'age_block5', 'glass_block4', 'glass_block5']
CLASSIFIER_FILTERS = {'stem': 'crelu', 'fc': 'fc1_glass'}
for _i, _name in enumerate(_CLS_BLOCKS):
    for _part, _suffix in (('expand', 1), ('depthwise', 2), ('project', 3)):
        CLASSIFIER_FILTERS[f'blocks.{_i}.{_part}'] = f'{_name}_{_suffix}'


def bias_of_filter(graph):
    """graph filter param name -> bias param name, from the conv2d / fc ops."""
    out = {}
    for op in graph['blocks'][0]['ops']:
        if op['type'] in ('conv2d', 'depthwise_conv2d', 'fc'):
            inputs = op['inputs']
            weight = (inputs.get('Filter') or inputs.get('W'))[0]
            out[weight] = inputs['Bias'][0]
    return out


def converted_state_dict(layer, filters, weights, graph, prefix):
    biases = bias_of_filter(graph)
    state = {}
    for layer_name, graph_name in filters.items():
        w_name = prefix + graph_name + '.w_0'
        state[layer_name + '.weight'] = weights[w_name]
        state[layer_name + '.bias'] = weights[biases[w_name]]
    expected = set(layer.state_dict().keys())
    missing, extra = expected - set(state), set(state) - expected
    if missing or extra:
        raise ValueError('weight mapping mismatch: missing %s, extra %s' % (sorted(missing), sorted(extra)))
    for k, v in layer.state_dict().items():
        if tuple(v.shape) != state[k].shape:
            raise ValueError('%s: model %s vs weights %s' % (k, v.shape, state[k].shape))
    return {k: paddle.to_tensor(v.astype(np.float32)) for k, v in state.items()}


def load_graph_and_weights(src, stem):
    graph = json.loads((src / f'{stem}.json').read_text())
    weights = dict(np.load(src / f'{stem}.npz'))
    return graph, weights


def convert(src, out):
    src = Path(src)
    config = load_builtin_config('pyramidbox_lite_mobile')
    detector = build_detector(config.detector)
    graph, weights = load_graph_and_weights(src, 'detector')
    detector.set_state_dict(converted_state_dict(detector, DETECTOR_FILTERS, weights, graph, PREFIX_DET))
    classifier = build_classifier(config.classifier)
    graph, weights = load_graph_and_weights(src, 'classifier')
    classifier.set_state_dict(converted_state_dict(classifier, CLASSIFIER_FILTERS, weights, graph, PREFIX_CLS))
    return save_model_dir(config, detector, classifier, out)


def add_arguments(parser):
    from maskhub.data.paths import shared_dir
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument('--src', default=str(shared_dir() / 'official_pyramidbox_lite'),
                        help="folder of Baidu's extracted files (detector.json/.npz, classifier.json/.npz)")
    parser.add_argument('--out', default=str(repo / 'hub_modules' / 'pyramidbox_lite_mobile_mask' / 'model'),
                        help='model directory to write')
    parser.add_argument('--exist-ok', action='store_true', help='overwrite the files of an existing model directory')


def run(args):
    from maskhub.commands.common import prepare_out
    from maskhub.errors import DataError
    missing = [name for name in ('detector.json', 'detector.npz', 'classifier.json', 'classifier.npz')
               if not (Path(args.src) / name).is_file()]
    if missing:
        raise DataError('--src %s: %s not found (the official weights extracted from Baidu\'s Paddle-Lite files; '
                        'set MASKHUB_SHARED or give --src)' % (args.src, ', '.join(missing)))
    prepare_out(args.out, args.exist_ok)
    print(convert(args.src, args.out))
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('tools/convert_official_weights.py', __doc__.splitlines()[0], add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
