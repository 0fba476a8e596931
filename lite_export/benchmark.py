"""x86 latency of a bundle's ``.nb`` files next to Paddle Inference for the same model.

    python -m lite_export benchmark build/lite/mobile [--repeats 10]

Median wall time over ``repeats`` runs after warm-up, one process, the runners as maskhub uses them:
``PaddleLiteRunner`` (paddlelite's x86 kernels, its default threads) and ``PaddleInferenceRunner``
(oneDNN, ``--threads``). Writes ``benchmark.json`` into the bundle.
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from lite_export.app_config import read_app_config
from lite_export.app_pipeline import LiteAppPipeline
from lite_export.verify import reference_images, reference_model_dir

DETECTOR_SIZES = ((240, 320), (480, 640))      # detector input h, w: a 640x480 frame at shrink 0.5 and 1.0


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times))


def network_latency(runners, repeats):
    """{runner name: {input: ms}} for the detector at DETECTOR_SIZES and the classifier on one face."""
    rng = np.random.default_rng(0)
    out = {}
    for name, (detector, classifier) in runners.items():
        row = {}
        for h, w in DETECTOR_SIZES:
            x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
            row['detector_%dx%d_ms' % (w, h)] = median_ms(lambda: detector(x), repeats)
        crop = rng.standard_normal((1, 3, 128, 128)).astype(np.float32)
        row['classifier_1_face_ms'] = median_ms(lambda: classifier(crop), repeats * 3)
        out[name] = row
    return out


def pipeline_latency(bundle_dir, variants, reference_dir, threads, repeats):
    """Whole image (detect + classify at the default shrink) on a real image stretched to 640x480."""
    from maskhub.evaluation.timing import frame_640x480
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.io.images import read_image
    images = reference_images()
    frame = frame_640x480(read_image(images[0]).image if images else None)
    out = {}
    reference = MaskDetector(str(reference_dir), threads=threads)
    out['paddle_inference'] = median_ms(lambda: reference.predict_image(frame), repeats)
    for variant in variants:
        pipeline = LiteAppPipeline(bundle_dir, variant)
        out['paddle_lite_%s' % variant] = median_ms(lambda: pipeline.predict_image(frame), repeats)
    faces = len(reference.predict_image(frame).faces)
    return {'frame': '640x480 (%s)' % (images[0].name if images else 'grey'), 'faces': faces, 'ms': out}


def benchmark_bundle(bundle_dir, repeats=10, threads=2):
    from maskhub.inference.lite_runner import PaddleLiteRunner
    from maskhub.inference.predictor import PaddleInferenceRunner
    bundle_dir = Path(bundle_dir)
    app_config = read_app_config(bundle_dir)
    reference_dir = reference_model_dir(bundle_dir, app_config)
    variants = [v for v in app_config['files'] if v.endswith('x86')]
    runners = {'paddle_inference': (PaddleInferenceRunner(reference_dir / 'detector', threads=threads),
                                    PaddleInferenceRunner(reference_dir / 'classifier', threads=threads))}
    for variant in variants:
        files = app_config['files'][variant]
        runners['paddle_lite_%s' % variant] = (PaddleLiteRunner(bundle_dir / files['detector']),
                                               PaddleLiteRunner(bundle_dir / files['classifier']))
    result = {
        'bundle': str(bundle_dir), 'model': app_config['model']['name'], 'repeats': repeats,
        'paddle_inference_threads': threads, 'cpu_count': os.cpu_count(),
        'load_average_before': os.getloadavg(),
        'networks_ms': network_latency(runners, repeats),
        'pipeline': pipeline_latency(bundle_dir, variants, reference_dir, threads, repeats),
        'sizes_bytes': {variant: {net: (bundle_dir / rel).stat().st_size for net, rel in files.items()}
                        for variant, files in app_config['files'].items()},
        'load_average_after': os.getloadavg(),
    }
    with open(bundle_dir / 'benchmark.json', 'w') as f:
        json.dump(result, f, indent=2)
    return result


def main(argv):
    parser = argparse.ArgumentParser(prog='python -m lite_export benchmark',
                                     description='x86 latency of the .nb files vs Paddle Inference')
    parser.add_argument('bundle')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2, help='Paddle Inference CPU threads')
    args = parser.parse_args(argv)
    print(json.dumps(benchmark_bundle(args.bundle, args.repeats, args.threads), indent=2))
    return 0
