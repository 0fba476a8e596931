"""Check a bundle's x86 ``.nb`` files against Paddle Inference on real images.

The candidate is ``lite_app_detector`` (only ``model_config.json`` + ``.nb``, through ``PaddleLiteRunner``);
the reference is ``MaskDetector`` on Paddle Inference fp32 for the bundle's source model directory (or the
bundle's own ``paddle/`` graphs when that directory is not on this machine). A bundle passes when, on
every image, every face matches one face of the other side with IoU >= ``min_iou``, with detector score
and classifier confidence within ``score_tol`` and the same label. A face missing on one side is
tolerated only when its detector score is within ``score_tol`` of ``confs_threshold`` (it sits on the
threshold, so either side of it is right); such faces are counted as ``on_threshold``.

Shape safety: the images have different sizes, so the detector input shrinks and grows across images;
``PaddleLiteRunner`` gives each input shape its own predictor, which is what keeps this safe.
"""
import json
import logging
import time
from pathlib import Path

import numpy as np

from lite_export.app_config import read_app_config
from lite_export.app_pipeline import lite_app_detector
from maskhub.data.paths import datasets_dir, shared_dir
from maskhub.inference import parity
from maskhub.inference.parity import face_to_dict
from maskhub.inference.registry import REPO_ROOT
from maskhub.io.images import read_image

log = logging.getLogger(__name__)

MIN_IOU = 0.9
SCORE_TOL = 1e-3
REPORT_NAME = 'verification.json'


def reference_images():
    """The six images of the official reference set (shared/official_pyramidbox_lite/reference)."""
    return sorted((shared_dir() / 'official_pyramidbox_lite' / 'reference' / 'images').glob('*.jpg'))


def spread(items, n):
    """``n`` items evenly spaced over the list (the splits are grouped by event / source)."""
    if n >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


def validation_images(n_wider=14, n_mask=10):
    """Images spread over the WIDER FACE val split and over maskhub's mask val split (fixed lists)."""
    from maskhub.data.wider import read_split_file
    wider_root = datasets_dir() / 'wider_face'
    paths = []
    split = wider_root / 'splits' / 'val.txt'
    if split.is_file():
        paths += [wider_root / 'train' / 'images' / p for p in spread(read_split_file(split), n_wider)]
    mask_split = Path(__file__).resolve().parents[1] / 'maskhub' / 'data' / 'splits' / 'mask_val.txt'
    if mask_split.is_file():
        for key in spread(read_split_file(mask_split), n_mask):
            source, image_id = key.split('/', 1)
            paths.append(datasets_dir() / 'face_mask' / source / 'images' / ('%s.jpg' % image_id))
    return [p for p in paths if p.is_file()]


def bundled_images():
    """Real photos shipped with the repository (examples/images): the default without the development data."""
    return sorted((REPO_ROOT / 'examples' / 'images').glob('*.jpg'))


def default_images():
    """The official reference set and the val splits of the development data, else examples/images."""
    return reference_images() + validation_images() or bundled_images()


def reference_model_dir(bundle_dir, app_config):
    source = app_config['model'].get('model_dir')
    if source:
        path = Path(source) if Path(source).is_absolute() else REPO_ROOT / source
        if (path / 'model.yml').is_file():
            return path
    return Path(bundle_dir) / 'paddle'


def compare_faces(reference, candidate, confs_threshold, min_iou=MIN_IOU, score_tol=SCORE_TOL):
    """maskhub's face matching (``maskhub.inference.parity.compare_faces``) at this check's tolerances."""
    return parity.compare_faces(reference, candidate, confs_threshold, min_iou, score_tol)


def head_differences(reference_detector, candidate, image_bgr, shrink):
    """Max abs differences of the raw detector heads (loc, conf, landmarks) for one image, both networks fed
    the candidate's own preprocessing (from model_config.json)."""
    prep = candidate.preprocess(image_bgr, shrink)
    lite_heads, ref_heads = candidate.infer(prep.tensor), reference_detector.infer(prep.tensor)
    return {name: float(np.abs(a - b).max()) for name, a, b in zip(('loc', 'conf', 'landmarks'), ref_heads, lite_heads)}


def verify_bundle(bundle_dir, images=None, variant='x86', shrink=None, reference=None, write_report=True):
    """Run the check on ``images`` (default: ``default_images()``); returns the report dict."""
    from maskhub.inference.pipeline import MaskDetector
    bundle_dir = Path(bundle_dir)
    app_config = read_app_config(bundle_dir)
    images = [Path(p) for p in (images if images is not None else default_images())]
    if not images:
        raise FileNotFoundError('no verification images: give image files (--images), or put the development data '
                                'at %s (MASKHUB_SHARED)' % shared_dir())
    reference_dir = Path(reference) if reference else reference_model_dir(bundle_dir, app_config)
    ref = MaskDetector(str(reference_dir), backend='paddle', precision='fp32')
    lite = lite_app_detector(bundle_dir, variant)
    shrink = app_config['defaults']['shrink'] if shrink is None else shrink
    threshold = app_config['defaults']['confs_threshold']
    per_image, times = [], {'paddle_inference_s': 0.0, 'paddle_lite_s': 0.0}
    for path in images:
        image = read_image(path).image
        t0 = time.perf_counter()
        ref_faces = [face_to_dict(f) for f in ref.predict_image(image, shrink=shrink, confs_threshold=threshold).faces]
        t1 = time.perf_counter()
        lite_faces = [face_to_dict(f) for f in lite.predict_image(image, shrink=shrink, confs_threshold=threshold).faces]
        t2 = time.perf_counter()
        times['paddle_inference_s'] += t1 - t0
        times['paddle_lite_s'] += t2 - t1
        row = {'image': display_name(path), 'size_hw': list(image.shape[:2]),
               **compare_faces(ref_faces, lite_faces, threshold),
               'head_max_abs_diff': head_differences(ref, lite, image, shrink)}
        per_image.append(row)
        log.info('%s: %d/%d faces matched, %s', row['image'], row['matched'], row['reference_faces'],
                 'ok' if row['passed'] else 'FAILED')
    report = summarise(per_image, bundle_dir, variant, reference_dir, shrink, times, lite)
    if write_report:
        with open(bundle_dir / (REPORT_NAME if variant == 'x86' else 'verification_%s.json' % variant), 'w') as f:
            json.dump(report, f, indent=2)
    return report


def display_name(path):
    """'<event or source>/<file>' (mask-set images live in <source>/images/)."""
    path = Path(path)
    folder = path.parent.parent if path.parent.name == 'images' else path.parent
    return '%s/%s' % (folder.name, path.name)


def summarise(per_image, bundle_dir, variant, reference_dir, shrink, times, lite):
    faces = sum(r['reference_faces'] for r in per_image)
    return {
        'bundle': str(bundle_dir), 'variant': variant, 'reference': 'paddle-inference: %s' % reference_dir,
        'candidate': lite.detector.description, 'shrink': shrink,
        'criteria': {'min_iou': MIN_IOU, 'score_tol': SCORE_TOL},
        'images': len(per_image), 'reference_faces': faces,
        'matched_faces': sum(r['matched'] for r in per_image),
        'unmatched_faces': sum(r['unmatched'] for r in per_image),
        'on_threshold_faces': sum(r['on_threshold'] for r in per_image),
        'label_mismatches': sum(r['label_mismatches'] for r in per_image),
        'min_iou': min((r['min_iou'] for r in per_image if r['min_iou'] is not None), default=None),
        'max_score_diff': max(r['max_score_diff'] for r in per_image),
        'max_confidence_diff': max(r['max_confidence_diff'] for r in per_image),
        'max_head_diff': {k: max(r['head_max_abs_diff'][k] for r in per_image) for k in ('loc', 'conf', 'landmarks')},
        'detector_predictors_created': lite.detector.predictors_created,
        'seconds': times,
        'passed': all(r['passed'] for r in per_image),
        'per_image': per_image,
    }
