"""Speed benchmark: ``python -m maskhub bench`` measures every runtime side by side in one run.

For each model (mobile, mobile_crowd, server) and runtime (Paddle-Lite x86 ``.nb``, Paddle Inference fp32 /
bf16, OpenVINO fp32 / bf16 / int8, as this CPU allows), on a 640x480 frame at shrink 0.5 and 1.0: the
detector network alone and the full pipeline (preprocess, detector, post-processing, classifier on 5 faces),
both through the pipeline's public stages; then each runtime's parity against Paddle Inference fp32 on real
images (and WIDER val face AP for reduced precisions), batch throughput over a folder of 640x480 JPEGs, and
the issue-13 target ratios. Writes ``<--out>/benchmark.md`` (+ ``benchmark.json``); ``--report`` writes
reports/benchmark.md instead.
"""
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from maskhub.inference.cpu import cpu_model, has_bf16, isa_summary
from maskhub.io.paths import new_run_dir

REPO = Path(__file__).resolve().parents[1]
FRAME_SIZE = (640, 480)
FACES_PER_FRAME = 5
SHRINKS = (0.5, 1.0)
RUNTIMES = (('lite', 'fp32'), ('paddle', 'fp32'), ('paddle', 'bf16'), ('openvino', 'fp32'), ('openvino', 'bf16'),
            ('openvino', 'int8'))
MODELS = ('mobile', 'mobile_crowd', 'server')


def add_arguments(parser):
    parser.add_argument('--models', default=','.join(MODELS), help='models to measure, comma-separated')
    parser.add_argument('--image', default=str(REPO / 'examples' / 'images' / 'maksssksksss389.jpg'),
                        help='image resized to 640x480 for the per-frame timings')
    parser.add_argument('--repeat', type=int, default=10, help='timed runs per measurement (the fastest is reported)')
    parser.add_argument('--threads', type=int, default=2, help='CPU threads of every runtime')
    parser.add_argument('--batch-images', type=int, default=30, help='640x480 JPEGs in the batch folder')
    parser.add_argument('--parity-images', type=int, default=8, help='WIDER val and mask val images each (+ the 6 '
                                                                     'reference images) for the parity check')
    parser.add_argument('--ap-images', type=int, default=30, help='WIDER val images for the AP check of reduced '
                                                                  'precisions (0: skip)')
    parser.add_argument('--no-int8', action='store_true', help='skip INT8 (NNCF quantisation of each model, ~30 s)')
    parser.add_argument('--no-lite', action='store_true', help='skip Paddle-Lite (exports a bundle per model)')
    parser.add_argument('--out', default=None, help='folder for benchmark.md / .json (default: runs/bench/N, a new N '
                        'each run)')
    parser.add_argument('--report', action='store_true', help='write reports/benchmark.md (and .json) instead')
    scaling = parser.add_argument_group('engine scaling (--scaling: the local engine against Ray Data workers)')
    scaling.add_argument('--scaling', action='store_true',
                         help='measure batch engines instead: scaling.md in --out (--report: reports/scaling.md)')
    scaling.add_argument('--scaling-images', type=int, default=300, help='photos in the batch')
    scaling.add_argument('--scaling-rounds', type=int, default=2, help='runs of each configuration (the best is shown)')
    scaling.add_argument('--scaling-folder', default=None,
                         help='folder of .jpg photos (default: shared/datasets/face_mask/kaggle/images)')
    scaling.add_argument('--ray-address', default=None, help='a Ray cluster to measure (default: Ray on this machine)')


def five_boxes(detector, frame):
    boxes, _ = detector.detect(frame, 1.0)
    if len(boxes) == 0:
        boxes = np.array([[280, 200, 360, 300]])
    return np.resize(boxes, (FACES_PER_FRAME, 4))


def stage_functions(det, frame, boxes, shrink):
    """name -> zero-argument callable of each measured stage of ``det`` on ``frame`` (inputs made once)."""
    prep = det.preprocess(frame, shrink)
    heads = det.infer(prep.tensor)
    crops = det.preprocess_crops(frame, boxes)

    def full():
        p = det.preprocess(frame, shrink)
        det.postprocess(det.infer(p.tensor), p)
        det.infer_crops(det.preprocess_crops(frame, boxes))

    return {'preprocess': lambda: det.preprocess(frame, shrink), 'detector': lambda: det.infer(prep.tensor),
            'postprocess': lambda: det.postprocess(heads, prep),
            'crops': lambda: det.preprocess_crops(frame, boxes), 'classifier': lambda: det.infer_crops(crops),
            'full': full}


def frame_timings(dets, frame, boxes, shrink, repeat, slow=('lite fp32',), slow_repeat=None, warmup=2):
    """{runtime: {stage: fastest ms, 'median': {stage: ms}, 'non_network_share'}} for the pipelines ``dets``
    ({runtime name: MaskDetector}) on one frame. Runs are interleaved: each round times every stage of every
    runtime once, so a change in the load of a shared CPU falls on all of them alike; the fastest run of
    each is reported (other jobs only ever add time). Runtimes in ``slow`` get ``slow_repeat`` rounds."""
    slow_repeat = slow_repeat or max(3, repeat // 2)
    functions = {name: stage_functions(det, frame, boxes, shrink) for name, det in dets.items()}
    samples = {name: {stage: [] for stage in fns} for name, fns in functions.items()}
    for round_ in range(warmup + repeat):
        for name, fns in functions.items():
            if name in slow and round_ >= warmup + slow_repeat:
                continue
            for stage, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                if round_ >= warmup:
                    samples[name][stage].append(1e3 * (time.perf_counter() - t0))
    out = {}
    for name, by_stage in samples.items():
        t = {stage: min(v) for stage, v in by_stage.items()}
        t['median'] = {stage: statistics.median(v) for stage, v in by_stage.items()}
        t['non_network_share'] = max(0.0, t['full'] - t['detector'] - t['classifier']) / t['full']
        out[name] = t
    return out


def ensure_lite_bundle(model, out_root):
    """A Paddle-Lite x86 bundle of ``model``: the repository's build/lite one, else exported under ``out_root``
    by the ``lite_export`` command (a child process: the benchmark does not import the shells)."""
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.inference.runtimes import RuntimeUnavailable
    try:
        return MaskDetector(model, backend='lite')
    except RuntimeUnavailable:
        pass
    bundle = Path(out_root) / 'lite' / model
    if not (bundle / 'model_config.json').is_file():
        subprocess.run([sys.executable, '-m', 'lite_export', '--model', model, '--out', str(bundle), '--targets',
                        'x86', '--no-verify'], check=True, cwd=REPO, capture_output=True, text=True)
    return MaskDetector(bundle, backend='lite')


def parity_images(n):
    from maskhub.data.splits import mask_samples, wider_samples
    from maskhub.io.images import read_image
    ref_dir = REPO.parent / 'shared' / 'official_pyramidbox_lite' / 'reference' / 'images'
    images = [read_image(p).image for p in sorted(ref_dir.glob('*.jpg'))]
    for samples in (wider_samples('val'), mask_samples('val')):
        if samples and n:
            images += [read_image(samples[i].path).image for i in np.linspace(0, len(samples) - 1, n).round().astype(int)]
    return images


def wider_face_ap(detector, n):
    from maskhub.data.splits import wider_samples
    from maskhub.evaluation.coco import FACE
    from maskhub.evaluation.evaluate import evaluate
    samples = wider_samples('val')
    samples = [samples[i] for i in np.linspace(0, len(samples) - 1, min(n, len(samples))).round().astype(int)]
    metrics, _ = evaluate(detector, samples, detector.config.defaults.shrink, progress=False)
    return 100 * metrics['ap'][FACE]['ap']


def batch_folder(out_root, n):
    """``n`` 640x480 JPEGs (example, reference and mask val images, stretched) in a folder."""
    from maskhub.data.splits import mask_samples
    folder = Path(out_root) / 'frames_640x480'
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((REPO / 'examples' / 'images').glob('*.jpg'))
    sources += sorted((REPO.parent / 'shared' / 'official_pyramidbox_lite' / 'reference' / 'images').glob('*.jpg'))
    samples = mask_samples('val')
    sources += [Path(samples[i].path) for i in np.linspace(0, len(samples) - 1, max(n, 1)).round().astype(int)]
    paths = []
    for i, src in enumerate(sources[:n]):
        path = folder / ('frame_%03d.jpg' % i)
        if not path.is_file():
            cv2.imwrite(str(path), cv2.resize(cv2.imread(str(src)), FRAME_SIZE), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(str(path))
    return paths


def batch_throughput(detector, paths):
    """(images/s through ``predict_paths`` with the reader thread, images/s without it, single-frame images/s
    of ``predict_image`` on the same images already decoded)."""
    from maskhub.io.images import read_image
    frames = [read_image(p).image for p in paths]
    for f in frames[:2]:
        detector.predict_image(f)
    t0 = time.perf_counter()
    for f in frames:
        detector.predict_image(f)
    single = len(frames) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for p in paths:
        detector.predict_image(read_image(p).image, path=p)
    sequential = len(paths) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    n = sum(1 for _ in detector.predict_paths(paths))
    overlapped = n / (time.perf_counter() - t0)
    from maskhub.batch.run import RunOptions, run_batch
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_batch(detector, [str(Path(paths[0]).parent)], out, RunOptions(progress=False))
        cli_ips = summary['images'] / (time.perf_counter() - t0)
    return {'images': n, 'overlapped_ips': overlapped, 'sequential_ips': sequential, 'single_frame_ips': single,
            'run_batch_ips': cli_ips}


def available_runtimes(args):
    out = []
    for backend, precision in RUNTIMES:
        if precision == 'bf16' and not has_bf16():
            continue
        if (backend == 'lite' and args.no_lite) or (precision == 'int8' and args.no_int8):
            continue
        out.append((backend, precision))
    return out


def load_runtime(model, backend, precision, args):
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.inference.runtimes import int8_ir_file
    if backend == 'lite':
        return ensure_lite_bundle(model, args.out_dir)
    if precision == 'int8':
        from maskhub.inference.quantise import quantise_model
        from maskhub.inference.registry import resolve_model_dir
        if int8_ir_file(resolve_model_dir(model), 'detector') is None:
            quantise_model(model, threads=args.threads)
    return MaskDetector(model, backend=backend, precision=precision, threads=args.threads)


def run(args):
    if args.scaling:
        from maskhub.batch.ray_scaling import run_scaling
        return run_scaling(args)
    from maskhub.inference.parity import MAX_AP_LOSS_POINTS, compare_detectors
    from maskhub.inference.pipeline import MaskDetector
    from maskhub.inference.registry import available_models
    from maskhub.inference.runtimes import choose_runtime
    args.out_dir = Path(args.out) if args.out else new_run_dir('bench')
    started = time.perf_counter()
    frame = cv2.resize(cv2.imread(args.image), FRAME_SIZE)
    models = [m for m in args.models.split(',') if m in available_models()]
    check_images = parity_images(args.parity_images)
    rows, parity = [], {}
    for model in models:
        reference = MaskDetector(model, backend='paddle', precision='fp32', threads=args.threads)
        boxes = five_boxes(reference, frame)
        dets = {}
        for backend, precision in available_runtimes(args):
            name = '%s %s' % (backend, precision)
            try:
                dets[name] = reference if (backend, precision) == ('paddle', 'fp32') else load_runtime(
                    model, backend, precision, args)
            except Exception as err:        # a runtime that cannot run here is reported, not fatal
                print('%s %s: unavailable (%s)' % (model, name, str(err).splitlines()[0]))
                parity[(model, name)] = {'error': str(err).splitlines()[0]}
        for shrink in SHRINKS:
            for name, t in frame_timings(dets, frame, boxes, shrink, args.repeat).items():
                rows.append({'model': model, 'runtime': name, 'shrink': shrink, **t})
                print('%-12s %-14s shrink %.1f  detector %7.2f ms  full %7.2f ms  non-network %4.0f%%'
                      % (model, name, shrink, t['detector'], t['full'], 100 * t['non_network_share']), flush=True)
        fp32_ap = {}
        for name, det in dets.items():
            backend, precision = name.split()
            check = compare_detectors(reference, det, check_images)
            if precision != 'fp32' and args.ap_images:
                base = '%s fp32' % backend
                if base not in fp32_ap:
                    fp32_ap[base] = wider_face_ap(dets.get(base) or MaskDetector(
                        model, backend=backend, precision='fp32', threads=args.threads), args.ap_images)
                check['face_ap'] = wider_face_ap(det, args.ap_images)
                check['face_ap_fp32'] = fp32_ap[base]
                check['ap_passed'] = abs(check['face_ap'] - fp32_ap[base]) <= MAX_AP_LOSS_POINTS
            check['rule_passed'] = bool(check['passed'] and check.get('ap_passed', True))
            parity[(model, name)] = check
            print('%-12s %-14s parity: %d/%d faces matched, max score diff %.2e -> %s'
                  % (model, name, check['matched'], check['reference_faces'], check['max_score_diff'],
                     'pass' if check['rule_passed'] else 'FAIL'), flush=True)
        del dets
    auto = MaskDetector('mobile', threads=args.threads)
    batch = batch_throughput(auto, batch_folder(args.out_dir, args.batch_images))
    choice = choose_runtime()
    elapsed = time.perf_counter() - started
    out_dir = REPO / 'reports' if args.report else args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    text = render(args, rows, parity, batch, auto, choice, elapsed)
    (out_dir / 'benchmark.md').write_text(text, encoding='utf-8')
    (out_dir / 'benchmark.json').write_text(json.dumps(
        {'rows': rows, 'parity': {'%s | %s' % k: v for k, v in parity.items()}, 'batch': batch,
         'auto': {'backend': choice.backend, 'precision': choice.precision, 'reason': choice.reason},
         'seconds': elapsed}, indent=2) + '\n', encoding='utf-8')
    print('report: %s (%.0f s)' % (out_dir / 'benchmark.md', elapsed))
    return 0


def _versions():
    from importlib.metadata import PackageNotFoundError, version
    out = []
    for pkg in ('paddlepaddle', 'openvino', 'paddlelite', 'nncf', 'numpy', 'opencv-python'):
        try:
            out.append('%s %s' % (pkg, version(pkg)))
        except PackageNotFoundError:
            pass
    return ', '.join(out)


def _get(rows, model, runtime, shrink, key):
    for r in rows:
        if (r['model'], r['runtime'], r['shrink']) == (model, runtime, shrink):
            return r[key]
    return None


def _fmt(v, digits=1):
    return '—' if v is None else ('%.*f' % (digits, v))


def render(args, rows, parity, batch, auto, choice, elapsed):
    models = list(dict.fromkeys(r['model'] for r in rows))
    runtimes = list(dict.fromkeys(r['runtime'] for r in rows))
    auto_name = '%s %s' % (choice.backend, choice.precision)
    lines = ['# Speed benchmark: runtimes side by side', '',
             'Generated by `python -m maskhub bench%s` on %s in %.0f s (one run: every figure below comes from it).'
             % (' --report' if args.report else '', dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
                elapsed), '',
             '- CPU: %s, %d cores visible, %d threads used; load average at the end %.2f / %.2f / %.2f'
             % ((cpu_model(), os.cpu_count(), args.threads) + os.getloadavg()),
             '- ISA flags detected (`/proc/cpuinfo`): %s' % (', '.join(isa_summary()) or 'none of interest'),
             '- %s' % _versions(),
             '- `backend=auto` picks here: **%s** (%s)' % (auto_name, choice.reason),
             '- Frame: `%s` stretched to %dx%d; shrink 0.5 -> 320x240 detector input, 1.0 -> 640x480. Fastest of %d '
             'interleaved rounds after 2 warm-ups (%d for Paddle-Lite; medians in benchmark.json): each round times '
             'every stage of every runtime of a model once, so load from other jobs on the shared CPU falls on all '
             'alike, and only ever adds time.' % (Path(args.image).name, *FRAME_SIZE, args.repeat,
                                                              max(3, args.repeat // 2)), '',
             '## Detector network alone (ms)', '',
             '| runtime | ' + ' | '.join('%s @%.1f' % (m, s) for m in models for s in SHRINKS) + ' |',
             '|---|' + '---:|' * (len(models) * len(SHRINKS))]
    for rt in runtimes:
        lines.append('| %s | ' % rt + ' | '.join(_fmt(_get(rows, m, rt, s, 'detector'), 2) for m in models
                                               for s in SHRINKS) + ' |')
    lines += ['', '## Full pipeline (ms): preprocess + detector + post-processing + classifier on %d faces'
              % FACES_PER_FRAME, '', 'In brackets: the share of the time spent outside the two networks.', '',
              '| runtime | ' + ' | '.join('%s @%.1f' % (m, s) for m in models for s in SHRINKS) + ' |',
              '|---|' + '---:|' * (len(models) * len(SHRINKS))]
    for rt in runtimes:
        lines.append('| %s | ' % rt + ' | '.join(
            '%s (%s%%)' % (_fmt(_get(rows, m, rt, s, 'full')), _fmt(100 * (_get(rows, m, rt, s, 'non_network_share') or 0), 0))
            if _get(rows, m, rt, s, 'full') is not None else '—' for m in models for s in SHRINKS) + ' |')
    lines += ['', '## Stages of the full pipeline, mobile (ms)', '',
              '| runtime | shrink | preprocess | detector | post-processing | crops | classifier (5) | full |',
              '|---|---|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        if r['model'] == 'mobile':
            lines.append('| %s | %.1f | %s |' % (r['runtime'], r['shrink'], ' | '.join(
                _fmt(r[k], 2) for k in ('preprocess', 'detector', 'postprocess', 'crops', 'classifier', 'full'))))
    lines += ['', '## Parity against Paddle Inference fp32', '',
              'Faces on the 6 official reference images + %d WIDER val + %d mask val images at the default shrink. '
              'Rule for a precision below fp32: every face matched at IoU >= 0.9 with detector scores '
              'within 5e-3, and WIDER val face AP (%d images) within 0.3 points of the same runtime at fp32. '
              '"mask conf diff" is the largest change of a mask confidence (the crop moves with the box, so it is '
              'reported, not ruled on).' % (args.parity_images, args.parity_images, args.ap_images), '',
              '| model | runtime | faces matched | unmatched | min IoU | max score diff | max mask conf diff '
              '| face AP (fp32) | rule |', '|---|---|---:|---:|---:|---:|---:|---:|---|']
    for (model, rt), c in parity.items():
        if 'error' in c:
            lines.append('| %s | %s | unavailable: %s | | | | | | |' % (model, rt, c['error'][:80]))
            continue
        ap = '%.2f (%.2f)' % (c['face_ap'], c['face_ap_fp32']) if 'face_ap' in c else '—'
        lines.append('| %s | %s | %d/%d | %d | %s | %.1e | %.3f | %s | %s |' % (
            model, rt, c['matched'], c['reference_faces'], c['unmatched'], _fmt(c['min_iou'], 3), c['max_score_diff'],
            c['max_confidence_diff'], ap, 'pass' if c['rule_passed'] else 'fail'))
    lines += ['', '## Batch', '',
              '`MaskDetector.predict_paths` (reader thread decoding, resizing and normalising ahead) over %d 640x480 '
              'JPEGs, default shrink and threshold, `%s`: **%.1f images/s**; the same loop without the reader thread '
              '%.1f images/s; `predict_image` on the same frames already decoded (single-frame rate) %.1f images/s: '
              'ratio **%.2f**.' % (batch['images'], auto_name, batch['overlapped_ips'], batch['sequential_ips'],
                                  batch['single_frame_ips'], batch['overlapped_ips'] / batch['single_frame_ips']),
              '', '`maskhub predict FOLDER --out DIR` (`run_batch`: its reader thread too, plus the journal, tables and '
              'summary it writes) over the same folder: %.1f images/s.' % batch['run_batch_ips']]
    lines += ['', '## Against the speed targets', ''] + targets(rows, parity, batch, auto_name) + ['']
    return '\n'.join(lines) + '\n'


def targets(rows, parity, batch, auto_name):
    out = ['| target | measured | met |', '|---|---|---|']

    def row(label, value, ok):
        out.append('| %s | %s | %s |' % (label, value, 'yes' if ok else '**no**'))
    full = _get(rows, 'mobile', auto_name, 0.5, 'full')
    dets = [r['detector'] for r in rows if r['model'] == 'mobile' and r['shrink'] == 0.5]
    if full is None or not dets:
        return ['(mobile with the auto runtime was not measured)']
    fastest = min(dets)
    fastest_rt = [r['runtime'] for r in rows if r['model'] == 'mobile' and r['shrink'] == 0.5 and r['detector'] == fastest][0]
    row('full pipeline (%s, mobile, 0.5) <= 2.5x the fastest detector-only (%s, %.2f ms)' % (auto_name, fastest_rt,
                                                                                         fastest),
        '%.2f ms = %.2fx' % (full, full / fastest), full <= 2.5 * fastest)
    passing = [r['detector'] for r in rows if r['model'] == 'mobile' and r['shrink'] == 0.5
               and parity.get(('mobile', r['runtime']), {}).get('rule_passed')]
    if passing and min(passing) != fastest:
        row('the same, against the fastest detector-only that passed parity (%.2f ms)' % min(passing),
            '%.2fx' % (full / min(passing)), full <= 2.5 * min(passing))
    paddle = _get(rows, 'mobile', 'paddle fp32', 0.5, 'full')
    need = 3.0 if has_bf16() else 1.5
    if paddle is not None:
        row('>= %.1fx faster than the Paddle Inference fp32 pipeline (%.2f ms)' % (need, paddle),
            '%.2fx' % (paddle / full), paddle / full >= need)
    share = _get(rows, 'mobile', auto_name, 0.5, 'non_network_share')
    row('non-network time <= 30%% of the full pipeline (mobile, 0.5, %s)' % auto_name, '%.0f%%' % (100 * share),
        share <= 0.3)
    server = _get(rows, 'server', auto_name, 0.5, 'full')
    if server is not None:
        row('server at 0.5 <= 3x the mobile full pipeline', '%.2f ms = %.2fx' % (server, server / full),
            server <= 3 * full)
    ratio = batch['overlapped_ips'] / batch['single_frame_ips']
    row('batch over a folder of 640x480 JPEGs >= 0.8x the single-frame rate', '%.2fx' % ratio, ratio >= 0.8)
    fast = [r for r in rows if r['model'] == 'mobile' and r['shrink'] == 0.5 and r['runtime'] != auto_name
            and r['full'] < full and parity.get(('mobile', r['runtime']), {}).get('rule_passed') is False]
    if fast:
        out += ['', 'Faster here but not allowed by the parity rule (so not the default): %s.'
                % ', '.join('%s %.2f ms' % (r['runtime'], r['full']) for r in fast)]
    return out
