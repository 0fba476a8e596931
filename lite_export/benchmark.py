"""x86 latency of a bundle's ``.nb`` files next to Paddle Inference for the same model.

    python -m lite_export benchmark build/lite/mobile [--repeats 10]

Median and minimum wall time over ``repeats`` runs after warm-up, one process, the runners as maskhub uses them:
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
from lite_export.app_pipeline import lite_app_detector
from lite_export.verify import reference_images, reference_model_dir

DETECTOR_SIZES = ((240, 320), (480, 640))      # detector input h, w: a 640x480 frame at shrink 0.5 and 1.0


def timed_ms(fn, repeats, warmup=2):
    """{'median': ms, 'min': ms} of ``fn()`` (the minimum is the least disturbed by other load on the machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return {'median': float(np.median(times)), 'min': float(np.min(times))}


def network_latency(runners, repeats):
    """{network: {runner label: {input: ms}}}; the detector at DETECTOR_SIZES, the classifier on one face."""
    rng = np.random.default_rng(0)
    detector_inputs = {'%dx%d' % (w, h): rng.standard_normal((1, 3, h, w)).astype(np.float32)
                       for h, w in DETECTOR_SIZES}
    crop = {'1 face': rng.standard_normal((1, 3, 128, 128)).astype(np.float32)}
    out = {}
    for network, by_label in runners.items():
        inputs = detector_inputs if network == 'detector' else crop
        out[network] = {label: {size: timed_ms(lambda: runner(x), repeats) for size, x in inputs.items()}
                        for label, runner in by_label.items()}
    return out


def lite_files_to_time(bundle_dir, app_config):
    """{network: {label: .nb path}}: the x86 FP32 files, distinct INT8 files, and rejected INT8 files."""
    bundle_dir = Path(bundle_dir)
    files = {net: {'paddle_lite_fp32': bundle_dir / app_config['files']['x86'][net]}
             for net in ('detector', 'classifier')}
    for net in files:
        int8 = app_config['files'].get('int8_x86', {}).get(net)
        if int8 and int8 != app_config['files']['x86'][net]:
            files[net]['paddle_lite_int8'] = bundle_dir / int8
        rejected = bundle_dir / 'paddle' / 'int8_rejected' / 'x86' / ('%s.nb' % net)
        if rejected.is_file():
            files[net]['paddle_lite_int8_rejected'] = rejected
    return files


def pipeline_latency(bundle_dir, variants, reference_dir, threads, repeats):
    """Whole image (detect + classify at the default shrink) on a real image stretched to 640x480."""
    from maskhub.evaluation.timing import frame_640x480
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.io.images import read_image
    images = reference_images()
    frame = frame_640x480(read_image(images[0]).image if images else None)
    out = {}
    reference = MaskDetector(str(reference_dir), backend='paddle', precision='fp32', threads=threads)
    out['paddle_inference'] = timed_ms(lambda: reference.predict_image(frame), repeats)
    for variant in variants:
        pipeline = lite_app_detector(bundle_dir, variant)
        out['paddle_lite_%s' % variant] = timed_ms(lambda: pipeline.predict_image(frame), repeats)
    faces = len(reference.predict_image(frame).faces)
    return {'frame': '640x480 (%s)' % (images[0].name if images else 'grey'), 'faces': faces, 'ms': out}


def benchmark_bundle(bundle_dir, repeats=10, threads=2):
    from maskhub.inference.runtimes import build_runner
    bundle_dir = Path(bundle_dir)
    app_config = read_app_config(bundle_dir)
    reference_dir = reference_model_dir(bundle_dir, app_config)
    variants = [v for v in app_config['files'] if v.endswith('x86')]
    runners = {net: {'paddle_inference': build_runner('paddle', reference_dir / net, threads=threads),
                     **{label: build_runner('lite', path) for label, path in by_label.items()}}
               for net, by_label in lite_files_to_time(bundle_dir, app_config).items()}
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
