"""Turn fine-tuned weights into a maskhub model directory.

    python -m finetune.package --detector-weights work_dirs/mobile_crowd/last.pdparams \
        --classifier-weights work_dirs/mask_classifier/last.pdparams --config pyramidbox_lite_mobile \
        --name mobile_crowd --out hub_modules/pyramidbox_lite_mobile_crowd_mask/model
"""
import argparse
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


def load_strict(layer, path):
    state = paddle.load(str(path))
    missing = set(layer.state_dict()) - set(state)
    if missing:
        raise ValueError('%s lacks %s' % (path, sorted(missing)))
    layer.set_state_dict(state)
    return layer


def package(detector_weights, classifier_weights, config, name, out, description=None):
    model_config = load_model_config(config)
    model_config = dataclasses.replace(model_config, name=name,
                                       description=description or model_config.description)
    detector = load_strict(build_detector(model_config.detector), detector_weights)
    classifier = load_strict(build_classifier(model_config.classifier), classifier_weights)
    return save_model_dir(model_config, detector, classifier, out)


def main(argv=None):
    parser = argparse.ArgumentParser(description='write a maskhub model directory from fine-tuned weights')
    parser.add_argument('--detector-weights', required=True)
    parser.add_argument('--classifier-weights', required=True)
    parser.add_argument('--config', required=True, help='built-in model config name or model.yml path')
    parser.add_argument('--name', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--description')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, force=True)
    print(package(args.detector_weights, args.classifier_weights, args.config, args.name, args.out,
                  args.description))


if __name__ == '__main__':
    main()
