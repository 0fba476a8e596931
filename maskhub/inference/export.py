"""Model directories: dygraph weights (.pdparams) + static inference graphs (.pdmodel/.pdiparams) + model.yml.

Layout of a model directory::

    model.yml                                   the ModelConfig (architecture, priors, labels, defaults)
    detector.pdparams, classifier.pdparams      dygraph weights (training, fine-tuning)
    detector.pdmodel, detector.pdiparams        inference graph: image -> loc, conf (softmax), landmarks
    classifier.pdmodel, classifier.pdiparams    inference graph: crops -> probabilities
"""
import logging
from pathlib import Path

import paddle
import paddle.nn.functional as F

from maskhub.config import ModelConfig
from maskhub.models import build_classifier, build_detector

log = logging.getLogger(__name__)

DETECTOR_OUTPUTS = ('loc', 'conf', 'landmarks')


class DetectorForInference(paddle.nn.Layer):
    """Adds the softmax the official graph applies, so the exported graph outputs face probabilities."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, image):
        loc, conf, landmarks = self.detector(image)
        return loc, F.softmax(conf, axis=-1), landmarks


class ClassifierForInference(paddle.nn.Layer):
    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, crops):
        return F.softmax(self.classifier(crops), axis=-1)


def save_model_dir(config: ModelConfig, detector, classifier, out_dir):
    """Write a complete model directory from dygraph layers."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / 'model.yml')
    paddle.save(detector.state_dict(), str(out / 'detector.pdparams'))
    paddle.save(classifier.state_dict(), str(out / 'classifier.pdparams'))
    export_inference(config, out)
    log.info('wrote model directory %s', out)
    return out


def load_dygraph(model_dir):
    """(config, detector, classifier) in eval mode, from a model directory's .pdparams."""
    model_dir = Path(model_dir)
    config = ModelConfig.from_yaml(model_dir / 'model.yml')
    detector = build_detector(config.detector)
    detector.set_state_dict(paddle.load(str(model_dir / 'detector.pdparams')))
    classifier = build_classifier(config.classifier)
    classifier.set_state_dict(paddle.load(str(model_dir / 'classifier.pdparams')))
    detector.eval()
    classifier.eval()
    return config, detector, classifier


def export_inference(config, model_dir):
    """paddle.jit.save both networks of ``model_dir`` (from its .pdparams) as static inference graphs."""
    model_dir = Path(model_dir)
    _, detector, classifier = load_dygraph(model_dir)
    size = config.classifier.input_size
    paddle.jit.save(DetectorForInference(detector), str(model_dir / 'detector'),
                    input_spec=[paddle.static.InputSpec([None, 3, None, None], 'float32', 'image')])
    paddle.jit.save(ClassifierForInference(classifier), str(model_dir / 'classifier'),
                    input_spec=[paddle.static.InputSpec([None, 3, size, size], 'float32', 'crops')])
