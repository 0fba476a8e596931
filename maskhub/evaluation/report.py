"""``python -m maskhub.evaluation.report``: the accuracy report (accuracy.md, accuracy.json, figures/).

The models given (default: every registered model whose files exist) on the WIDER val split and the
mask val split at shrink 0.5 and 1.0, on the same images for every model: face AP, recall by face
width and by WIDER attribute, mask metrics, detector GMAC at 320×240 and ms per 640×480 frame.
Written under ``--out`` (default runs/report/N); ``--report`` writes reports/accuracy.md.
Per-image predictions are cached under runs/evaluation_cache/ (keyed by model weights), so
regenerating after a new model ships only runs that model.
"""
import datetime
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

from tqdm import tqdm

from maskhub.data.paths import datasets_dir
from maskhub.evaluation.coco import FACE
from maskhub.evaluation.compute import detector_gmac
from maskhub.evaluation.curves import plot_pr_curves
from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import (CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR, PredictionCache,
                                         compute_metrics, file_safe, headline, json_safe, predict_samples)
from maskhub.evaluation.report_markdown import render_report
from maskhub.evaluation.timing import frame_640x480, ms_per_frame
from maskhub.inference.registry import MODELS, REPO_ROOT, available_models, resolve_model_dir
from maskhub.io.paths import new_run_dir

log = logging.getLogger(__name__)

DATASETS = {'wider-val': 'WIDER FACE val split (crowds; faces only, invalid faces ignored)',
            'mask-val': 'mask val split (kaggle + jol + macwin, near-duplicate-aware)'}
SHRINKS = (0.5, 1.0)
BASELINE = 'mobile'                 # the official weights
REPORTS = REPO_ROOT / 'reports'
TIMING_IMAGE = 'face_mask/macwin/images/macwin_0094.jpg'    # 14 faces; stretched to 640x480
CHUNK = 10


def model_fingerprint(model):
    """Hash of the model's weights and config: a retrained model gets a new prediction cache."""
    digest = hashlib.sha1()
    model_dir = resolve_model_dir(model)
    for name in ('model.yml', 'detector.pdiparams', 'classifier.pdiparams'):
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()[:12]


def cached_predictions(detector, samples, shrink, cache_path, key):
    """Predictions for ``samples``, running the model only on images the cache lacks (saved every CHUNK)."""
    cache = PredictionCache(cache_path, key)
    missing = [s for s in samples if s.path not in cache.records]
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(missing), CHUNK), desc='%s shrink %g: %d new images' % (
            detector.name, shrink, len(missing)), disable=not missing):
        predict_samples(detector, missing[start:start + CHUNK], shrink, SCORE_FLOOR, CLASSIFY_FLOOR,
                        progress=False, cache=cache.records)
        cache.save()
    if missing:
        log.info('%s: ran %d of %d images in %.0f s', Path(cache_path).stem, len(missing), len(samples),
                 time.perf_counter() - t0)
    return predict_samples(detector, samples, shrink, progress=False, cache=cache.records)[:2]


def timing_frame():
    from maskhub.io.images import read_image
    path = datasets_dir() / TIMING_IMAGE
    return frame_640x480(read_image(path).image if path.exists() else None), path.exists()


def evaluate_all(models, datasets, shrinks, max_images, cache_dir, figures_dir, timing_repeats):
    from maskhub.inference.pipeline import MaskDetector
    sets = {name: spread_subset(load_samples(name), max_images.get(name)) for name in datasets}
    frame, real_frame = timing_frame()
    rows, timings, model_info = [], {}, {}
    for model in models:
        detector = MaskDetector(model)
        key = {'model': model, 'weights': model_fingerprint(model), 'score_floor': SCORE_FLOOR,
               'classify_floor': CLASSIFY_FLOOR}
        model_info[model] = {'description': detector.config.description, 'weights': key['weights'],
                             'directory': str(detector.model_dir), 'gmac': detector_gmac(detector.config.detector)}
        for shrink in shrinks:
            timings[model, shrink] = ms_per_frame(detector, frame, shrink, repeats=timing_repeats)
            for name, samples in sets.items():
                cache_path = Path(cache_dir) / ('%s_%s_%s_shrink%g.json' % (file_safe(model), key['weights'], name,
                                                                             shrink))
                predictions, gt_classification = cached_predictions(detector, samples, shrink, cache_path,
                                                                    dict(key, shrink=shrink, data=name))
                metrics = compute_metrics(samples, predictions, gt_classification, RECALL_SCORE,
                                          tuple(detector.config.classifier.labels))
                rows.append({'model': model, 'data': name, 'shrink': shrink, 'metrics': metrics,
                             'headline': headline(metrics)})
                log.info('%s %s shrink %g: %s', model, name, shrink, rows[-1]['headline'])
    figures = plot_figures(rows, figures_dir)
    return {'rows': rows, 'timings': timings, 'images': {n: len(s) for n, s in sets.items()},
            'total_images': {n: len(load_samples(n)) for n in datasets}, 'figures': figures,
            'real_timing_frame': real_frame, 'model_info': model_info}


def plot_figures(rows, figures_dir):
    """One face P-R figure per (set, shrink) with every model, one MASK / NO MASK figure per model and shrink."""
    figures_dir = Path(figures_dir)
    written = {}
    for data in sorted({r['data'] for r in rows}):
        for shrink in sorted({r['shrink'] for r in rows}):
            chosen = [r for r in rows if r['data'] == data and r['shrink'] == shrink]
            if not chosen:
                continue
            path = figures_dir / ('pr_face_%s_shrink%g.png' % (data, shrink))
            plot_pr_curves({r['model']: r['metrics']['ap'][FACE] for r in chosen}, path,
                           'faces (class-agnostic), %s, shrink %g' % (data, shrink))
            written[('face', data, shrink)] = path
            for r in chosen:
                if 'MASK' not in r['metrics']['ap']:
                    continue
                path = figures_dir / ('pr_classes_%s_%s_shrink%g.png' % (file_safe(r['model']), data, shrink))
                plot_pr_curves({k: v for k, v in r['metrics']['ap'].items() if k != FACE}, path,
                               'MASK / NO MASK, %s, %s, shrink %g' % (r['model'], data, shrink))
                written[('classes', r['model'], data, shrink)] = path
    return written


def _command(args):
    """The command line that regenerates this report (the flags that differ from the defaults)."""
    flags = [('report', args.report), ('models', ' '.join(args.models or [])),
             ('baseline', args.baseline if args.baseline != BASELINE else None),
             ('shrinks', ' '.join('%g' % s for s in args.shrinks) if list(args.shrinks) != list(SHRINKS) else None),
             ('limit', args.limit), ('max-images-wider', args.max_images_wider),
             ('max-images-mask', args.max_images_mask)]
    return 'maskhub report' + ''.join(
        ' --%s' % flag if value is True else ' --%s %s' % (flag, value) for flag, value in flags if value)


def add_arguments(parser):
    parser.add_argument('--models', nargs='+', help='registered names or model directories, in table order '
                        '(default: every registered model whose files exist)')
    parser.add_argument('--baseline', default=BASELINE, help='model the summary compares the others with')
    parser.add_argument('--shrinks', type=float, nargs='+', default=list(SHRINKS), help='detector input scales')
    parser.add_argument('--limit', type=int, help='at most N images of each set (spread evenly), for a quick check')
    parser.add_argument('--max-images-wider', type=int, help='at most N WIDER val images (spread evenly)')
    parser.add_argument('--max-images-mask', type=int, help='at most N mask val images (spread evenly)')
    parser.add_argument('--timing-repeats', type=int, default=10, help='runs per timing')
    parser.add_argument('--note', help='a sentence for the report, e.g. which training stage the weights are from')
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--out', default=None, help='report folder (default runs/report/N, a new N each run)')
    where.add_argument('--report', action='store_true', help='write the shipped report, %s/accuracy.md' % REPORTS)
    parser.add_argument('--cache-dir', default=str(REPO_ROOT / 'runs' / 'evaluation_cache'),
                        help='per-image predictions kept between runs (keyed by model weights)')


def main(argv=None):
    """``python -m maskhub.evaluation.report``: the same as ``maskhub report``."""
    from maskhub.cli import main as cli
    return cli(['report', *(sys.argv[1:] if argv is None else argv)])


def run(args):
    models = args.models or available_models()
    if not models:
        from maskhub.errors import UsageError
        raise UsageError('no model to evaluate: none of %s has its files (pass --models)' % ', '.join(MODELS))
    out = REPORTS if args.report else Path(args.out) if args.out else new_run_dir('report')
    limits = {'wider-val': args.max_images_wider or args.limit, 'mask-val': args.max_images_mask or args.limit}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    results = evaluate_all(models, list(DATASETS), args.shrinks, limits, args.cache_dir, out / 'figures',
                           args.timing_repeats)
    context = {'command': _command(args), 'generated': datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
               'machine': '%s, %d CPU cores (load average %.1f at start)' % (
                   platform.processor() or platform.machine(), os.cpu_count(), load),
               'missing_models': [] if args.models else [m for m in MODELS if m not in models],
               'datasets': DATASETS, 'timing_image': TIMING_IMAGE, 'timing_repeats': args.timing_repeats,
               'out': out, 'note': args.note, 'baseline': args.baseline, 'seconds': time.perf_counter() - t0}
    (out / 'accuracy.md').write_text(render_report(results, context), encoding='utf-8')
    summary = [dict(r, ms_per_640x480_frame=dict(zip(('fastest', 'median', 'faces'),
                                                      results['timings'][r['model'], r['shrink']])))
               for r in results['rows']]
    (out / 'accuracy.json').write_text(json.dumps(json_safe({'images': results['images'], 'rows': summary,
                                                            'models': results['model_info']}),
                                                  indent=1), encoding='utf-8')
    print('wrote %s in %.0f s' % (out / 'accuracy.md', context['seconds']))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
