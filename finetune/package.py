"""Turn fine-tuned weights into a maskhub model directory, or a complete PaddleHub module.

    python -m finetune.package --detector-weights work_dirs/mobile_crowd/last.pdparams \
        --classifier-weights work_dirs/mask_classifier/last.pdparams --config pyramidbox_lite_mobile \
        --name mobile_crowd --out hub_modules/pyramidbox_lite_mobile_crowd_mask/model

    # several checkpoints of one run (e.g. its last epochs): their average is packaged
    python -m finetune.package --detector-weights RUN/epoch_9.pdparams RUN/epoch_10.pdparams ... --exist-ok ...

    # a new hub module: OUT/module.py + OUT/model/, ready for `hub install OUT`
    python -m finetune.package ... --name my_crowd --hub-module my_crowd_mask --out hub_modules/my_crowd_mask
"""
import dataclasses
import logging
from pathlib import Path

import paddle

from maskhub.config import ModelConfig, load_builtin_config
from maskhub.inference.export import save_model_dir
from maskhub.models import build_classifier, build_detector


def load_model_config(name_or_path):
    """A built-in config name ('pyramidbox_lite_server') or a model.yml path."""
    return ModelConfig.from_yaml(name_or_path) if Path(name_or_path).suffix in ('.yml', '.yaml') \
        else load_builtin_config(name_or_path)


def averaged_state(paths):
    """The element-wise mean of several checkpoints of one run (weight averaging over its last epochs, which
    evens out the checkpoint-to-checkpoint noise of a short schedule); one path: that checkpoint."""
    states = [paddle.load(str(p)) for p in paths]
    keys = set(states[0])
    for path, state in zip(paths[1:], states[1:]):
        if set(state) != keys or any(list(state[k].shape) != list(states[0][k].shape) for k in keys):
            raise ValueError('%s does not hold the same parameters as %s: cannot average them' % (path, paths[0]))
    if len(states) == 1:
        return states[0]
    return {k: sum(state[k].astype('float32') for state in states) / len(states) for k in keys}


def set_state_strict(layer, state, source):
    """``layer`` with ``state`` loaded; a ValueError naming ``source`` when the state lacks any of its tensors."""
    missing = set(layer.state_dict()) - set(state)
    if missing:
        raise ValueError('%s lacks %s' % (source, sorted(missing)))
    layer.set_state_dict(state)
    return layer


def load_strict(layer, paths):
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    return set_state_strict(layer, averaged_state(paths), paths[0])


def package(detector_weights, classifier_weights, config, name, out, description=None):
    model_config = load_model_config(config)
    model_config = dataclasses.replace(model_config, name=name,
                                       description=description or model_config.description)
    detector = load_strict(build_detector(model_config.detector), detector_weights)
    classifier = load_strict(build_classifier(model_config.classifier), classifier_weights)
    return save_model_dir(model_config, detector, classifier, out)


def package_hub_module(detector_weights, classifier_weights, config, name, module_name, out, description=None):
    """OUT/model/ (the model directory) and OUT/module.py (a MaskHubModule named ``module_name``)."""
    from maskhub.serving.module_source import write_module_py
    model_dir = package(detector_weights, classifier_weights, config, name, Path(out) / 'model', description)
    summary = ('maskhub PyramidBox-lite face detector + mask classifier "%s", fine-tuned by maskhub; same API and '
               'output structure as pyramidbox_lite_mobile_mask.' % name)
    write_module_py(out, module_name, summary)
    return Path(out), model_dir


def add_arguments(parser):
    parser.add_argument('--detector-weights', required=True, metavar='FILE', nargs='+',
                        help='detector .pdparams, e.g. work_dirs/NAME/epoch_K.pdparams; several files of one run: '
                             'their average')
    parser.add_argument('--classifier-weights', required=True, metavar='FILE',
                        help='classifier .pdparams (the shipped one: '
                             'hub_modules/pyramidbox_lite_mobile_mask/model/classifier.pdparams)')
    parser.add_argument('--config', required=True, help='built-in model config name (e.g. pyramidbox_lite_mobile, '
                                                        'as in the training config) or a model.yml path')
    parser.add_argument('--name', required=True, help='model name recorded in model.yml')
    parser.add_argument('--out', required=True, help='model directory (or hub module directory) to write')
    parser.add_argument('--exist-ok', action='store_true', help='write into --out even if it already holds files')
    parser.add_argument('--description', help='a sentence for model.yml')
    parser.add_argument('--hub-module', metavar='MODULE_NAME',
                        help='write a complete hub module named MODULE_NAME into --out (module.py + model/)')


def run(args):
    from maskhub.commands.common import prepare_out
    from maskhub.errors import UsageError
    for flag, path in [('--detector-weights', p) for p in args.detector_weights] + [('--classifier-weights',
                                                                                   args.classifier_weights)]:
        if not Path(path).is_file():
            raise UsageError('%s %s: file not found' % (flag, path))
    prepare_out(args.out, args.exist_ok)
    if args.hub_module:
        print(package_hub_module(args.detector_weights, args.classifier_weights, args.config, args.name,
                                 args.hub_module, args.out, args.description)[0])
    else:
        print(package(args.detector_weights, args.classifier_weights, args.config, args.name, args.out,
                      args.description))
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('python -m finetune.package', 'write a maskhub model directory (or hub module) from '
                      'fine-tuned weights', add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
