"""INT8 post-training quantisation of a model's two networks for OpenVINO (NNCF), calibrated on training images.

    python -m maskhub.inference.quantise mobile [--images 32] [--out build/openvino_int8/mobile]

NNCF reads the OpenVINO model of the Paddle graph, runs it on the calibration inputs to collect activation
ranges, and writes an INT8 IR (``detector.int8.xml/.bin``, ``classifier.int8.xml/.bin``) that the
``openvino`` backend runs with ``precision='int8'`` (VNNI / AMX-INT8 kernels). Calibration inputs come
from the pipeline's own stages on the WIDER FACE and mask *train* splits: detector inputs at the config's
default shrink and the classifier crops of the faces the fp32 model finds. Whether INT8 may be used by
default is decided by the parity rule (``maskhub.inference.parity``; ``python -m maskhub bench`` reports it).
"""
import json
import logging
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def calibration_inputs(fp32_detector, n_images):
    """(detector inputs [1,3,h,w] list, classifier crop batches [k,3,S,S] list) from training images."""
    from maskhub.data.splits import mask_samples, wider_samples
    from maskhub.io.images import read_image

    def spread(items, n):
        return [items[i] for i in np.linspace(0, len(items) - 1, min(n, len(items))).round().astype(int)]
    paths = [s.path for s in spread(wider_samples('train'), n_images // 2)]
    paths += [s.path for s in spread(mask_samples('train'), n_images - len(paths))]
    det_inputs, crops = [], []
    for path in paths:
        image = read_image(path).image
        prep = fp32_detector.preprocess(image)
        det_inputs.append(prep.tensor)
        boxes, _ = fp32_detector.postprocess(fp32_detector.infer(prep.tensor), prep)
        if len(boxes):
            crops.append(fp32_detector.preprocess_crops(image, boxes[:8]))
    return det_inputs, crops


def quantise_network(pdmodel, samples, out_xml):
    """NNCF post-training quantisation of one Paddle graph (read by OpenVINO) -> INT8 IR at ``out_xml``."""
    import nncf
    import openvino as ov
    model = ov.Core().read_model(str(pdmodel))
    # bias correction on this dynamic-shape graph ruins the outputs (scores all near 1); without it, and
    # with asymmetric activations (mixed preset: the negated CReLU halves are signed), it stays close
    quantised = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples),
                              preset=nncf.QuantizationPreset.MIXED,
                              advanced_parameters=nncf.AdvancedQuantizationParameters(disable_bias_correction=True))
    Path(out_xml).parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantised, str(out_xml), compress_to_fp16=False)
    return Path(out_xml)


def quantise_model(model, out_dir=None, n_images=32, threads=None):
    """Quantise both networks of ``model`` (name or model directory) into ``out_dir`` (default
    ``build/openvino_int8/<config name>``); returns a record of what was done."""
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.inference.registry import REPO_ROOT
    fp32 = MaskDetector(model, backend='openvino', precision='fp32', threads=threads)
    out = Path(out_dir) if out_dir else REPO_ROOT / 'build' / 'openvino_int8' / fp32.config.name
    t0 = time.perf_counter()
    det_inputs, crops = calibration_inputs(fp32, n_images)
    for net, samples in (('detector', det_inputs), ('classifier', crops)):
        quantise_network(fp32.model_dir / ('%s.pdmodel' % net), samples, out / ('%s.int8.xml' % net))
    record = {'model': fp32.config.name, 'model_dir': str(fp32.model_dir), 'out': str(out),
              'method': 'NNCF %s post-training quantisation (mixed preset, no bias correction) of the '
                        'OpenVINO model read from the Paddle graph' % _nncf_version(),
              'calibration': {'images': len(det_inputs), 'classifier_crop_batches': len(crops),
                              'source': 'WIDER FACE + mask train splits, detector inputs at the default shrink'},
              'seconds': round(time.perf_counter() - t0, 1)}
    (out / 'int8.json').write_text(json.dumps(record, indent=2) + '\n', encoding='utf-8')
    return record


def _nncf_version():
    import nncf
    return nncf.__version__


def add_arguments(parser):
    parser.add_argument('model', help="'mobile', 'mobile_crowd', 'server' or a model directory")
    parser.add_argument('--images', type=int, default=32, help='calibration images (default 32)')
    parser.add_argument('--out', default=None, help="folder of the INT8 IR (default: the model directory's)")
    parser.add_argument('--threads', type=int, default=None, help='CPU threads (default: all cores)')


def run(args):
    print(json.dumps(quantise_model(args.model, args.out, args.images, args.threads), indent=2))
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('python -m maskhub.inference.quantise', __doc__.split('\n')[0], add_arguments, run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
