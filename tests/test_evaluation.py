"""Evaluation metrics on hand-made cases, plus one real-model run on a few shared images."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from maskhub.data.paths import datasets_dir
from maskhub.data.samples import MASK, NO_MASK, Sample
from maskhub.evaluation.classifier_metrics import classifier_metrics, metrics_from_confusion
from maskhub.evaluation.coco import FACE, average_precision
from maskhub.evaluation.curves import plot_pr_curves
from maskhub.errors import DataError
from maskhub.evaluation.datasets import load_samples, spread_subset
from maskhub.evaluation.evaluate import compute_metrics, headline, json_safe
from maskhub.evaluation.matching import match_detections
from maskhub.evaluation.operating_point import operating_point
from maskhub.evaluation.predictions import Detections

LABELS = (NO_MASK, MASK)


def one_hot(labels):
    return np.array([[1.0, 0.0] if l == NO_MASK else [0.0, 1.0] for l in labels], np.float32)


def sized_boxes(widths, y=10):
    """Square faces of the given widths side by side."""
    boxes, x = [], 0
    for w in widths:
        boxes.append([x, y, x + w, y + w])
        x += w + 50
    return np.array(boxes, np.float32)


@pytest.fixture
def two_images():
    a = Sample('a.jpg', sized_boxes([10, 20, 40, 100]), [MASK, NO_MASK, MASK, NO_MASK])
    b = Sample('b.jpg', sized_boxes([24, 70]), [NO_MASK, MASK])
    return [a, b]


def perfect(samples):
    return [Detections(s.boxes, np.linspace(0.99, 0.9, len(s.boxes)), one_hot(s.labels)) for s in samples]


def test_perfect_predictions_give_ap_one(two_images):
    metrics = compute_metrics(two_images, perfect(two_images))
    for name in (FACE, MASK, NO_MASK):
        assert metrics['ap'][name]['ap'] == pytest.approx(1.0)
    assert metrics['mask_map'] == pytest.approx(1.0)
    assert metrics['at_score']['recall']['all']['recall'] == 1.0
    assert metrics['at_score']['precision'] == 1.0
    assert metrics['at_score']['mask_accuracy']['accuracy'] == 1.0


def test_higher_scored_false_positive_halves_ap():
    sample = Sample('a.jpg', [[0, 0, 50, 50]], [MASK])
    det = Detections([[200, 200, 250, 250], [0, 0, 50, 50]], [0.9, 0.8], one_hot([MASK, MASK]))
    ap = average_precision([sample], [det], [FACE])[FACE]
    assert ap['ap'] == pytest.approx(0.5, abs=0.01)
    assert ap['max_recall'] == 1.0


def test_missed_face_lowers_recall_in_its_width_bin(two_images):
    predictions = perfect(two_images)
    kept = [0, 2, 3]     # drop the 20 px face of image a
    a = predictions[0]
    predictions[0] = Detections(a.boxes[kept], a.scores[kept], a.probs[kept])
    recall = operating_point(two_images, predictions, 0.5)['recall']
    assert recall['16-32'] == {'faces': 2, 'found': 1, 'recall': 0.5}
    for name in ('<16', '32-64', '>=64'):
        assert recall[name]['recall'] == 1.0
    assert recall['<32']['found'] == 2 and recall['<32']['faces'] == 3
    assert recall['all']['recall'] == pytest.approx(5 / 6)


def test_detections_below_the_stated_score_do_not_count(two_images):
    predictions = perfect(two_images)
    predictions[1].scores[:] = 0.3
    recall = operating_point(two_images, predictions, 0.5)['recall']
    assert recall['all']['found'] == 4 and recall['all']['faces'] == 6


def test_ignore_regions_are_neither_hit_nor_miss():
    sample = Sample('w.jpg', [[0, 0, 40, 40], [100, 100, 120, 120]], [None, None], ignore=[False, True])
    on_both = Detections([[0, 0, 40, 40], [101, 101, 119, 119]], [0.9, 0.95])
    regular_only = Detections([[0, 0, 40, 40]], [0.9])
    for det in (on_both, regular_only):
        metrics = compute_metrics([sample], [det])
        assert metrics['ap'][FACE]['ap'] == pytest.approx(1.0)
        assert metrics['at_score']['recall']['all'] == {'faces': 1, 'found': 1, 'recall': 1.0}
        assert metrics['at_score']['precision'] == 1.0
    assert metrics['faces'] == 1 and metrics['ignore_regions'] == 1
    assert 'mask_map' not in metrics     # WIDER has no mask labels


def test_ignore_region_does_not_absorb_a_detection_of_a_real_face():
    gt = np.array([[0, 0, 40, 40], [0, 0, 40, 40]], np.float32)
    hit, det_gt, ignored = match_detections(gt, [True, False], [[0, 0, 40, 40]], [0.9])
    assert hit.tolist() == [False, True] and det_gt.tolist() == [1] and ignored.tolist() == [False]


def test_matched_mask_accuracy_counts_label_agreement(two_images):
    predictions = perfect(two_images)
    predictions[1].probs = one_hot([MASK, MASK])        # first face of b is NO MASK: one error
    acc = operating_point(two_images, predictions, 0.5)['mask_accuracy']
    assert acc == {'matched_labelled': 6, 'correct': 5, 'accuracy': pytest.approx(5 / 6)}
    metrics = compute_metrics(two_images, predictions)
    assert metrics['ap'][NO_MASK]['ap'] < 1.0


def test_classifier_metrics_on_a_hand_made_confusion():
    # truth NO MASK: 3 right, 1 called MASK; truth MASK: 2 called NO MASK, 4 right
    truth = [NO_MASK] * 4 + [MASK] * 6
    predicted = [NO_MASK] * 3 + [MASK] + [NO_MASK] * 2 + [MASK] * 4
    m = classifier_metrics(truth, predicted, list(LABELS))
    assert m['confusion'] == [[3, 1], [2, 4]]
    assert m['accuracy'] == pytest.approx(0.7)
    assert m['per_class'][MASK]['precision'] == pytest.approx(4 / 5)
    assert m['per_class'][MASK]['recall'] == pytest.approx(4 / 6)
    assert m['per_class'][MASK]['f1'] == pytest.approx(2 * 0.8 * (2 / 3) / (0.8 + 2 / 3))
    assert m['per_class'][NO_MASK]['precision'] == pytest.approx(3 / 5)
    assert m['per_class'][NO_MASK]['recall'] == pytest.approx(3 / 4)


def test_classifier_metrics_never_predicting_a_class():
    m = metrics_from_confusion([[0, 5], [0, 5]], list(LABELS))
    assert np.isnan(m['per_class'][NO_MASK]['precision'])
    assert m['per_class'][NO_MASK]['f1'] == 0.0
    assert m['accuracy'] == 0.5


def test_no_detections_give_zero_ap(two_images):
    empty = [Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 2))) for _ in two_images]
    metrics = compute_metrics(two_images, empty)
    assert metrics['ap'][FACE]['ap'] == 0.0
    assert metrics['at_score']['recall']['all']['recall'] == 0.0
    json.dumps(json_safe(metrics), allow_nan=False)


def test_unclassified_detections_stay_out_of_class_ap(two_images):
    predictions = perfect(two_images)
    predictions[0].probs[1] = np.nan
    assert predictions[0].predicted_labels()[1] is None
    metrics = compute_metrics(two_images, predictions)
    assert metrics['ap'][FACE]['ap'] == pytest.approx(1.0)
    assert metrics['ap'][NO_MASK]['max_recall'] == pytest.approx(2 / 3)
    restored = Detections.from_json(json.loads(json.dumps(predictions[0].to_json())))
    assert restored.predicted_labels() == predictions[0].predicted_labels()


def test_pr_curve_png(two_images, tmp_path):
    metrics = compute_metrics(two_images, perfect(two_images))
    path = plot_pr_curves(metrics['ap'], tmp_path / 'pr.png', 'test')
    assert path.read_bytes()[:4] == b'\x89PNG'


TINY_JPEG = b'\xff\xd8\xff\xd9'


def write_voc(folder, image_id, boxes_labels):
    (folder / 'annotations').mkdir(parents=True, exist_ok=True)
    (folder / 'images').mkdir(exist_ok=True)
    objects = ''.join('<object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>'
                      '<ymax>%d</ymax></bndbox></object>' % (name, *box) for box, name in boxes_labels)
    (folder / 'images' / ('%s.jpg' % image_id)).write_bytes(TINY_JPEG)     # readers check the image is there
    (folder / 'annotations' / ('%s.xml' % image_id)).write_text(
        '<annotation><size><width>100</width><height>100</height><depth>3</depth></size>%s</annotation>' % objects)


def test_voc_spec_with_split_file(tmp_path):
    for source in ('kaggle', 'jol'):
        for i in range(3):
            write_voc(tmp_path / source, 'img%d' % i, [((1, 1, 20, 20), 'with_mask')])
    split = tmp_path / 'val.txt'
    split.write_text('kaggle/img1\njol/img2\n')
    samples = load_samples('voc:%s' % tmp_path, str(split))
    assert sorted('%s/%s' % (s.source, s.image_id) for s in samples) == ['jol/img2', 'kaggle/img1']
    assert len(load_samples('voc:%s' % (tmp_path / 'jol'))) == 3
    assert [s.image_id for s in spread_subset(load_samples('voc:%s' % tmp_path), 2)] == ['img0', 'img2']
    with pytest.raises(DataError, match='unknown kind'):
        load_samples('coco:x')


needs_shared = pytest.mark.skipif(not (datasets_dir() / 'face_mask' / 'kaggle').is_dir(),
                                  reason='shared datasets not present')


@needs_shared
def test_official_mobile_on_three_real_images(tmp_path, capsys):
    from maskhub.cli import main
    from maskhub.inference.registry import available_models
    if 'mobile' not in available_models():
        pytest.skip('mobile model files not present')
    kaggle = datasets_dir() / 'face_mask' / 'kaggle'
    split = tmp_path / 'three.txt'
    split.write_text('kaggle/maksssksksss0\nkaggle/maksssksksss1\nkaggle/maksssksksss2\n')
    code = main(['evaluate', '--model', 'mobile', '--data', 'voc:%s' % kaggle, '--split', str(split),
                 '--shrink', '0.5', '--out', str(tmp_path / 'out'), '--no-progress'])
    assert code == 0
    metrics = json.loads((tmp_path / 'out' / 'shrink_0.5' / 'metrics.json').read_text())
    assert metrics['images'] == 3
    assert metrics['ap'][FACE]['ap'] > 0.3
    assert metrics['classifier_on_gt']['faces'] == metrics['faces']
    assert (tmp_path / 'out' / 'shrink_0.5' / 'pr_curves.png').stat().st_size > 0
    h = headline(metrics)
    assert 0 <= h['recall']['all'] <= 100
    assert 'face AP@0.5' in capsys.readouterr().out


def test_paddlehub_module_spec_is_refused_with_a_reason(tmp_path, capsys):
    from maskhub.cli import main
    split = tmp_path / 'one.txt'
    split.write_text('kaggle/maksssksksss0\n')
    code = main(['evaluate', '--model', 'paddlehub:pyramidbox_lite_mobile_mask', '--data',
                 'voc:%s' % (datasets_dir() / 'face_mask' / 'kaggle'), '--split', str(split), '--no-progress'])
    assert code == 2
    err = capsys.readouterr().err
    assert 'paddlehub:pyramidbox_lite_mobile_mask' in err and 'face score' in err


def test_own_matching_agrees_with_cocoeval_on_random_crowds():
    rng = np.random.default_rng(0)
    samples, predictions = [], []
    for i in range(12):
        xy = rng.uniform(0, 300, (15, 2))
        wh = rng.uniform(5, 80, (15, 2))
        gt = np.concatenate([xy, xy + wh], 1)
        samples.append(Sample('%d.jpg' % i, gt, [None] * 15, ignore=rng.random(15) < 0.2))
        jitter = rng.normal(0, 6, (25, 4))
        det = np.concatenate([gt, gt[:10]])[:25] + jitter
        det[:, 2:] = np.maximum(det[:, 2:], det[:, :2] + 1)
        predictions.append(Detections(det, rng.random(25)))
    coco_recall = average_precision(samples, predictions, [FACE])[FACE]['max_recall']
    ours = operating_point(samples, predictions, 0.0)['recall']['all']['recall']
    assert 0.2 < ours < 1.0
    assert ours == pytest.approx(coco_recall)


# A WIDER-format file: x y w h blur expression illumination invalid occlusion pose per face
TINY_WIDER = """e/a.jpg
6
0 0 20 20 0 0 0 0 0 0
100 0 20 20 2 0 0 0 2 1
200 0 40 40 1 0 0 0 1 1
300 0 30 30 2 0 0 1 0 0
350 0 0 30 1 0 0 0 0 1
400 0 30 30 2 0 0 0 1 0
e/b.jpg
1
0 0 64 64 0 0 0 0 2 0
"""


def tiny_wider_case(tmp_path):
    """Samples of TINY_WIDER and predictions that find a/face 0 and 2 and b/face 0 at score 0.9, a/face 5
    (the sixth line; the zero-width fifth is dropped) only at 0.3, and put one detection on the invalid face."""
    gt = tmp_path / 'wider_gt.txt'
    gt.write_text(TINY_WIDER)
    a, b = load_samples('wider:%s' % gt)
    assert len(a.boxes) == 5
    det_a = Detections(np.concatenate([a.boxes[[0, 2, 3, 4]] + 1]), [0.9, 0.9, 0.9, 0.3])
    det_b = Detections(b.boxes + 2, [0.9])
    return [a, b], [det_a, det_b]


def test_recall_by_wider_attribute_on_a_known_case(tmp_path):
    samples, predictions = tiny_wider_case(tmp_path)
    at = operating_point(samples, predictions, 0.5)
    by = {a: {v: (c['found'], c['faces']) for v, c in values.items()} for a, values in at['recall_by_attribute'].items()}
    assert by == {'pose': {'typical': (2, 3), 'atypical': (1, 2)},
                  'occlusion': {'none': (1, 1), 'partial': (1, 2), 'heavy': (1, 2)},
                  'blur': {'clear': (2, 2), 'normal': (1, 1), 'heavy': (0, 2)}}
    assert at['recall']['all'] == {'faces': 5, 'found': 3, 'recall': 0.6}   # the invalid face counts nowhere
    assert at['precision'] == 1.0
    # same matches at another operating point: the 0.3 detection now finds the heavy-blur face
    low = operating_point(samples, predictions, 0.2)['recall_by_attribute']
    assert low['blur']['heavy']['found'] == 1 and low['pose']['typical']['found'] == 3
    h = headline(compute_metrics(samples, predictions))
    assert h['recall_by_attribute']['pose'] == {'typical': pytest.approx(200 / 3), 'atypical': 50.0}


def test_evaluate_summary_prints_attribute_recall(tmp_path, capsys):
    from maskhub.commands.evaluate import print_summary
    samples, predictions = tiny_wider_case(tmp_path)
    metrics = compute_metrics(samples, predictions)
    metrics['settings'] = {'model': 'm', 'shrink': 0.5, 'recall_score': 0.5}
    print_summary(metrics)
    assert 'pose typical  66.7 atypical  50.0 | occlusion none 100.0' in capsys.readouterr().out


def test_voc_ground_truth_has_no_attribute_table(tmp_path, two_images):
    write_voc(tmp_path / 'kaggle', 'img0', [((1, 1, 20, 20), 'with_mask'), ((40, 40, 90, 90), 'without_mask')])
    samples = load_samples('voc:%s' % (tmp_path / 'kaggle'))
    metrics = compute_metrics(samples, perfect(samples))
    assert metrics['at_score']['recall']['all']['recall'] == 1.0
    assert 'recall_by_attribute' not in metrics['at_score']
    assert 'recall_by_attribute' not in headline(metrics)
    # a mixed set (WIDER and VOC images) has no attribute table either: it would count only some faces
    wider, _ = tiny_wider_case(tmp_path)
    assert 'recall_by_attribute' not in operating_point(wider + samples, [perfect([s])[0] for s in wider + samples],
                                                        0.5)


def report_results(tmp_path):
    """Report inputs: 'mobile' misses the two small faces of image a, 'crowd' finds every face."""
    from maskhub.evaluation.report import plot_figures
    wider_samples, wider_predictions = tiny_wider_case(tmp_path)
    two = [Sample('a.jpg', sized_boxes([10, 20, 40, 100]), [MASK, NO_MASK, MASK, NO_MASK]),
           Sample('b.jpg', sized_boxes([24, 70]), [NO_MASK, MASK])]
    half = perfect(two)
    half[0] = Detections(half[0].boxes[2:], half[0].scores[2:], half[0].probs[2:])
    predictions = {'mobile': (wider_predictions, half), 'crowd': (perfect(wider_samples), perfect(two))}
    rows = []
    for model, (on_wider, on_masks) in predictions.items():
        for data, samples, preds in (('wider-val', wider_samples, on_wider), ('mask-val', two, on_masks)):
            metrics = compute_metrics(samples, preds, ([MASK], [MASK]))
            rows.append({'model': model, 'data': data, 'shrink': 0.5, 'metrics': metrics,
                         'headline': headline(metrics)})
    return {'rows': rows, 'timings': {(m, 0.5): (12.0, 13.0, 3) for m in predictions},
            'images': {'wider-val': 2, 'mask-val': 2}, 'total_images': {'wider-val': 10, 'mask-val': 2},
            'figures': plot_figures(rows, tmp_path / 'figures'), 'real_timing_frame': True,
            'model_info': {'mobile': {'description': 'the official model', 'weights': 'abc', 'gmac': 0.85},
                           'crowd': {'description': 'a crowd model', 'weights': 'def', 'gmac': 1.7}}}


def test_report_shows_attribute_recall_for_wider_only_and_compute(tmp_path):
    from maskhub.evaluation.report_markdown import render_report
    context = {'command': 'python -m maskhub.evaluation.report --limit 2', 'generated': 'now', 'machine': 'test',
               'datasets': {'wider-val': 'WIDER', 'mask-val': 'masks'}, 'timing_image': 'x.jpg',
               'timing_repeats': 10, 'out': tmp_path, 'baseline': 'mobile'}
    text = render_report(report_results(tmp_path), context)
    assert text.startswith('# Accuracy: `mobile` vs `crowd`')
    assert 'wider-val: 2 of 10 (spread evenly over the split)' in text
    assert '- `crowd`: a crowd model (weights def)' in text
    # summary: face AP, recall < 32 px, atypical pose, heavy occlusion on WIDER, then mask val, with differences
    summary = text[text.index('## Summary'):text.index('## WIDER')]
    assert '| mobile | 0.5 | 80.2 | 33.3 | 50.0 | 50.0 | 66.3 | 100.0 | 0.85 | 12 |' in summary
    assert '| crowd | 0.5 | 100.0 (+19.8) | 100.0 (+66.7) | 100.0 (+50.0) | 100.0 (+50.0) | 100.0 (+33.7) | ' in summary
    wider = text[text.index('## WIDER'):text.index('## masks')]
    masks = text[text.index('## masks'):]
    assert 'Ground-truth faces: pose typical 3, atypical 2; occlusion none 1, partial 2, heavy 2' in wider
    assert '| mobile | 0.5 | 66.7 | 50.0 | 100.0 | 50.0 | 50.0 | 100.0 | 100.0 | 0.0 |' in wider
    assert '| crowd | 0.5 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |' in wider
    assert 'pose atypical' not in masks.split('## Compute')[0]       # VOC ground truth: no attribute table
    assert '| mobile | 0.85 | 1.00 | 12 / 13 ms (3 faces) |' in text
    assert '| crowd | 1.70 | 2.00 | 12 / 13 ms (3 faces) |' in text
    assert not re.search(r'\b(goals?|met|issues?|targets?)\b', text, re.IGNORECASE)
    assert (tmp_path / 'figures' / 'pr_face_wider-val_shrink0.5.png').exists()


def test_detector_gmac_of_the_mobile_and_server_networks():
    from maskhub.config import load_builtin_config
    from maskhub.evaluation.compute import detector_gmac
    configs = {name: load_builtin_config('pyramidbox_lite_%s' % name).detector for name in ('mobile', 'server')}
    mobile = detector_gmac(configs['mobile'])
    # stem, three Inception-SE blocks and the heads at stride 8/16 of a 320x240 input: ~0.85 GMAC
    assert 0.7 < mobile < 1.0
    assert detector_gmac(configs['mobile'], 640, 480) == pytest.approx(4 * mobile, rel=0.01)
    server = detector_gmac(configs['server'])
    # the server runs the same network on a pyramid: the 2x path alone costs four mobile passes
    assert server > 4 * mobile


def test_nms_sweep_reproduces_the_evaluator_at_the_models_own_setting(mobile_detector, tiny_voc):
    """finetune.nms_sweep keeps only the heads above the score floor and re-runs the post-processing per
    setting: at the config's own NMS it must score exactly what maskhub evaluate scores."""
    from finetune.nms_sweep import sweep
    from maskhub.evaluation.evaluate import evaluate
    samples = load_samples('voc:%s' % tiny_voc)
    own = mobile_detector.config.detector.nms
    results = sweep(mobile_detector, samples, 0.5, [(own.iou_threshold, 0.0), (0.6, 0.5)], progress=False)
    expected, _ = evaluate(mobile_detector, samples, 0.5, progress=False)
    assert set(results) == {(own.iou_threshold, 0.0), (0.6, 0.5)}
    got = results[(own.iou_threshold, 0.0)]
    assert got['ap']['face']['ap'] == pytest.approx(expected['ap']['face']['ap'], abs=1e-9)
    # the sweep scores detection only (no classifier); compared as JSON text since empty size bins hold NaN
    detection_only = [json.dumps({k: v for k, v in m['at_score'].items() if k != 'mask_accuracy'}, sort_keys=True)
                      for m in (got, expected)]
    assert detection_only[0] == detection_only[1] and '"found": 24' in detection_only[0]
    assert 0 < results[(0.6, 0.5)]['ap']['face']['ap'] <= 1


def test_nms_sweep_leaves_out_an_unreadable_image_and_scores_the_rest(mobile_detector, tiny_voc, tmp_path, caplog):
    from dataclasses import replace
    from finetune.nms_sweep import sweep
    samples = load_samples('voc:%s' % tiny_voc)
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(Path(samples[0].path).read_bytes()[:300])
    setting = [(mobile_detector.config.detector.nms.iou_threshold, 0.0)]
    clean = sweep(mobile_detector, samples, 0.5, setting, progress=False)[setting[0]]
    with caplog.at_level('WARNING'):
        mixed = sweep(mobile_detector, samples + [replace(samples[0], path=str(truncated))], 0.5, setting,
                      progress=False)[setting[0]]
    assert 'truncated.jpg' in caplog.text
    assert mixed['images'] == clean['images'] == len(samples)
    assert mixed['ap']['face']['ap'] == clean['ap']['face']['ap'] > 0
