"""Networks and the builder that turns a config into them."""
from maskhub.models.mask_classifier import MaskClassifier
from maskhub.models.priors import density_priors, feature_sizes
from maskhub.models.pyramidbox_lite import (PyramidBoxLiteCrowd, PyramidBoxLiteCrowdFullRes, PyramidBoxLiteCrowdServer,
                                            PyramidBoxLiteMobile, PyramidBoxLiteServer)
from maskhub.models.pyramidbox_lite_separable import (PyramidBoxLiteCrowdSeparable, PyramidBoxLiteCrowdSeparableWide,
                                                      PyramidBoxLiteCrowdSeparableWideContext)

DETECTORS = {'PyramidBoxLiteMobile': PyramidBoxLiteMobile, 'PyramidBoxLiteCrowd': PyramidBoxLiteCrowd,
             'PyramidBoxLiteCrowdFullRes': PyramidBoxLiteCrowdFullRes,
             'PyramidBoxLiteCrowdSeparable': PyramidBoxLiteCrowdSeparable,
             'PyramidBoxLiteCrowdSeparableWide': PyramidBoxLiteCrowdSeparableWide,
             'PyramidBoxLiteCrowdSeparableWideContext': PyramidBoxLiteCrowdSeparableWideContext,
             'PyramidBoxLiteServer': PyramidBoxLiteServer, 'PyramidBoxLiteCrowdServer': PyramidBoxLiteCrowdServer}
CLASSIFIERS = {'MaskClassifier': MaskClassifier}


def build_detector(detector_config):
    try:
        arch = DETECTORS[detector_config.architecture]
    except KeyError:
        raise ValueError('unknown detector architecture %r (known: %s)' % (detector_config.architecture, sorted(DETECTORS)))
    return arch.from_config(detector_config)


def build_classifier(classifier_config):
    try:
        arch = CLASSIFIERS[classifier_config.architecture]
    except KeyError:
        raise ValueError('unknown classifier architecture %r' % classifier_config.architecture)
    return arch(num_classes=len(classifier_config.labels), input_size=classifier_config.input_size)
