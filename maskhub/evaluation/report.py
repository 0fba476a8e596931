"""``python -m maskhub.evaluation.report``: regenerate reports/accuracy.md and reports/figures/*.png.

Every available model (official 'mobile', 'mobile_crowd', 'server') on the WIDER val split and the
mask val split at shrink 0.5 and 1.0, on the same images for every model. Per-image predictions are
cached under runs/evaluation_cache/ (keyed by model weights), so regenerating after a new model
ships only runs that model.
"""
import datetime
import hashlib
import json
import logging
import os
import platform
import sys
from pathlib import Path

from tqdm import tqdm

from maskhub.data.paths import datasets_dir
from maskhub.evaluation.coco import FACE
from maskhub.evaluation.curves import plot_pr_curves
from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import (CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR, PredictionCache,
                                         compute_metrics, file_safe, headline, json_safe, predict_samples)
from maskhub.evaluation.report_markdown import render_report
from maskhub.evaluation.timing import frame_640x480, ms_per_frame
from maskhub.inference.registry import MODELS, REPO_ROOT, available_models, resolve_model_dir

log = logging.getLogger(__name__)

DATASETS = {'wider-val': 'WIDER FACE val split (crowds; faces only, invalid faces ignored)',
            'mask-val': 'mask val split (kaggle + jol + macwin, near-duplicate-aware)'}
SHRINKS = (0.5, 1.0)
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
    for start in tqdm(range(0, len(missing), CHUNK), desc='%s shrink %g: %d new images' % (
            detector.name, shrink, len(missing)), disable=not missing):
        predict_samples(detector, missing[start:start + CHUNK], shrink, SCORE_FLOOR, CLASSIFY_FLOOR,
                        progress=False, cache=cache.records)
        cache.save()
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
                             'directory': str(detector.model_dir)}
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
                path = figures_dir / ('pr_classes_%s_%s_shrink%g.png' % (r['model'], data, shrink))
                plot_pr_curves({k: v for k, v in r['metrics']['ap'].items() if k != FACE}, path,
                               'MASK / NO MASK, %s, %s, shrink %g' % (r['model'], data, shrink))
                written[('classes', r['model'], data, shrink)] = path
    return written


def add_arguments(parser):
    parser.add_argument('--models', nargs='+', help='names or model directories (default: every registered '
                        'model whose files exist)')
    parser.add_argument('--shrinks', type=float, nargs='+', default=list(SHRINKS), help='detector input scales')
    parser.add_argument('--max-images-wider', type=int, help='at most N WIDER val images (spread evenly)')
    parser.add_argument('--max-images-mask', type=int, help='at most N mask val images (spread evenly)')
    parser.add_argument('--timing-repeats', type=int, default=10, help='runs per timing')
    parser.add_argument('--note', help='a sentence for the report, e.g. which training stage the weights are from')
    parser.add_argument('--out', help='folder for accuracy.md, accuracy.json and figures/ (default: a new folder '
                                      'runs/report/N)')
    parser.add_argument('--exist-ok', action='store_true', help='write into --out even if it already holds files')
    parser.add_argument('--report', action='store_true', help='write into reports/ of the repository instead of --out')
    parser.add_argument('--cache-dir', default=str(REPO_ROOT / 'runs' / 'evaluation_cache'),
                        help='per-image predictions kept between runs (keyed by model weights)')


def main(argv=None):
    """``python -m maskhub.evaluation.report``: the same as ``maskhub report``."""
    from maskhub.cli import main as cli
    return cli(['report', *(argv if argv is not None else sys.argv[1:])])


def run(args):
    models = args.models or available_models()
    from maskhub.commands.common import new_run_dir, prepare_out
    out = REPO_ROOT / 'reports' if args.report else prepare_out(args.out or new_run_dir('report'), args.exist_ok,
                                                                   create=False)
    results = evaluate_all(models, list(DATASETS), args.shrinks,
                           {'wider-val': args.max_images_wider, 'mask-val': args.max_images_mask},
                           args.cache_dir, out / 'figures', args.timing_repeats)
    command = 'maskhub report' + ''.join(
        ' --%s %s' % (flag, value) for flag, value in (
            ('models', ' '.join(args.models or [])), ('shrinks', ' '.join('%g' % s for s in args.shrinks)
                                                      if list(args.shrinks) != list(SHRINKS) else ''),
            ('max-images-wider', args.max_images_wider), ('max-images-mask', args.max_images_mask)) if value)
    context = {'command': command, 'generated': datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
               'machine': '%s, %d CPU cores (%s)' % (platform.processor() or platform.machine(), os.cpu_count(),
                                                     'load average %.1f at start' % os.getloadavg()[0]),
               'missing_models': [m for m in MODELS if m not in models], 'datasets': DATASETS,
               'timing_image': TIMING_IMAGE, 'out': out, 'note': args.note}
    out.mkdir(parents=True, exist_ok=True)
    (out / 'accuracy.md').write_text(render_report(results, context), encoding='utf-8')
    summary = [dict(r, ms_per_640x480_frame=dict(zip(('fastest', 'median', 'faces'),
                                                      results['timings'][r['model'], r['shrink']])))
               for r in results['rows']]
    (out / 'accuracy.json').write_text(json.dumps(json_safe({'images': results['images'], 'rows': summary,
                                                            'models': results['model_info']}),
                                                  indent=1), encoding='utf-8')
    print('wrote %s' % (out / 'accuracy.md'))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
