"""The accuracy report (accuracy.md) from the results of ``maskhub.evaluation.report``."""
import os

from maskhub.data.wider import ATTRIBUTE_VALUES
from maskhub.evaluation.coco import MAX_DETECTIONS
from maskhub.evaluation.compute import GMAC_INPUT
from maskhub.evaluation.evaluate import CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR
from maskhub.evaluation.operating_point import RECALL_ATTRIBUTES, SMALL_FACE_WIDTH, WIDTH_BINS

SMALL = '<%d' % SMALL_FACE_WIDTH
RECALL_COLUMNS = list(WIDTH_BINS) + [SMALL, 'all']
ATTRIBUTE_COLUMNS = [(a, v) for a in RECALL_ATTRIBUTES for v in ATTRIBUTE_VALUES[a]]
CROWD_SET, MASK_SET = 'wider-val', 'mask-val'


def _num(x, signed=False):
    if x is None or x != x:     # None or NaN
        return 'n/a'
    return ('%+.1f' if signed else '%.1f') % x


def _find(rows, model, data, shrink):
    for r in rows:
        if (r['model'], r['data'], r['shrink']) == (model, data, shrink):
            return r['headline']
    return None


def _models(rows):
    return list(dict.fromkeys(r['model'] for r in rows))


def _attribute_recall(headline, attribute, value):
    return (headline or {}).get('recall_by_attribute', {}).get(attribute, {}).get(value)


def _duration(seconds):
    if not seconds:
        return ''
    return ', in %.0f s' % seconds if seconds < 120 else ', in %.0f min' % (seconds / 60)


def _gmac(value):
    return 'n/a' if value is None else '%.2f' % value


def _with_difference(value, base, is_baseline):
    """'76.8 (+15.9)': a value and its difference from the baseline model at the same shrink."""
    if is_baseline or value is None or base is None:
        return _num(value)
    return '%s (%s)' % (_num(value), _num(value - base, True))


def _summary(rows, shrinks, baseline, timings, gmacs):
    """One row per model and shrink with the numbers that tell the models apart."""
    picks = [('WIDER face AP@0.5', CROWD_SET, lambda h: h['face_ap']),
             ('WIDER recall %s px' % SMALL, CROWD_SET, lambda h: h['recall'][SMALL]),
             ('WIDER recall atypical pose', CROWD_SET, lambda h: _attribute_recall(h, 'pose', 'atypical')),
             ('WIDER recall heavy occlusion', CROWD_SET, lambda h: _attribute_recall(h, 'occlusion', 'heavy')),
             ('mask val face AP@0.5', MASK_SET, lambda h: h['face_ap']),
             ('mask accuracy (matched)', MASK_SET, lambda h: h['matched_mask_accuracy'])]
    picks = [p for p in picks if any(r['data'] == p[1] for r in rows)]
    lines = ['| model | shrink | ' + ' | '.join(p[0] for p in picks) + ' | detector GMAC at %d×%d | ms / 640×480 |'
             % GMAC_INPUT, '|---|' + '---:|' * (len(picks) + 3)]
    for model in _models(rows):
        for shrink in shrinks:
            if not any(_find(rows, model, d, shrink) for _, d, _ in picks):
                continue
            cells = [model, '%g' % shrink]
            for _, data, get in picks:
                ours, base = _find(rows, model, data, shrink), _find(rows, baseline, data, shrink)
                cells.append(_with_difference(ours and get(ours), base and get(base), model == baseline))
            cells += [_gmac(gmacs.get(model)), '%.0f' % timings[model, shrink][0]]
            lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def _dataset_table(rows, data, timings):
    chosen = [r for r in rows if r['data'] == data]
    with_classes = any('mask_map' in r['metrics'] for r in chosen)
    head = ['model', 'shrink', 'face AP@0.5']
    if with_classes:
        head += ['MASK AP', 'NO MASK AP', 'mean']
    head += ['recall %s' % c for c in RECALL_COLUMNS] + ['precision']
    if with_classes:
        head += ['mask acc. (matched)']
    head += ['ms / 640×480']
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
    for r in chosen:
        h = r['headline']
        cells = [r['model'], '%g' % r['shrink'], _num(h['face_ap'])]
        if with_classes:
            cells += [_num(h['mask_ap']), _num(h['no_mask_ap']), _num(h['mask_map'])]
        cells += [_num(h['recall'][c]) for c in RECALL_COLUMNS] + [_num(h['precision'])]
        if with_classes:
            cells += [_num(h['matched_mask_accuracy'])]
        cells += ['%.0f' % timings[r['model'], r['shrink']][0]]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def _attribute_section(rows, data):
    """Recall by WIDER attribute, or [] when the set's ground truth has no attributes (VOC)."""
    chosen = [r for r in rows if r['data'] == data and 'recall_by_attribute' in r['metrics']['at_score']]
    if not chosen:
        return []
    counts = chosen[0]['metrics']['at_score']['recall_by_attribute']
    lines = ['Recall by WIDER attribute at detector score %.1f (same matches as recall by width). '
             'Ground-truth faces: %s.' % (RECALL_SCORE, '; '.join(
                 '%s %s' % (a, ', '.join('%s %d' % (v, counts[a][v]['faces']) for v in ATTRIBUTE_VALUES[a]))
                 for a in RECALL_ATTRIBUTES)), '',
             '| model | shrink | ' + ' | '.join('%s %s' % (a, v) for a, v in ATTRIBUTE_COLUMNS) + ' |',
             '|---|' + '---:|' * (len(ATTRIBUTE_COLUMNS) + 1)]
    for r in chosen:
        recall = r['headline']['recall_by_attribute']
        lines.append('| %s | %g | %s |' % (r['model'], r['shrink'],
                                            ' | '.join(_num(recall[a][v]) for a, v in ATTRIBUTE_COLUMNS)))
    return lines + ['']


def _face_counts(rows, data):
    for r in rows:
        if r['data'] == data:
            rec = r['metrics']['at_score']['recall']
            return ', '.join('%s: %d' % (c, rec[c]['faces']) for c in list(WIDTH_BINS) + ['all'])
    return ''


def _classifier_section(rows):
    lines = []
    for r in rows:
        c = r['metrics'].get('classifier_on_gt')
        if c is None or r['shrink'] != min(x['shrink'] for x in rows):
            continue
        labels = c['labels']
        lines.append('**%s** (%s): accuracy %.1f, macro F1 %.1f on %d faces' % (
            r['model'], r['data'], 100 * c['accuracy'], 100 * c['macro_f1'], c['faces']))
        lines.append('')
        lines.append('| truth \\ predicted | ' + ' | '.join(labels) + ' | precision | recall | F1 |')
        lines.append('|---|' + '---:|' * (len(labels) + 3))
        for label, counts in zip(labels, c['confusion']):
            m = c['per_class'][label]
            lines.append('| %s | %s | %s | %s | %s |' % (label, ' | '.join(str(n) for n in counts),
                                                         _num(100 * m['precision']), _num(100 * m['recall']),
                                                         _num(100 * m['f1'])))
        lines.append('')
    return lines


def _compute_section(results, shrinks, baseline, context):
    info, timings = results['model_info'], results['timings']
    base = info.get(baseline, {}).get('gmac')
    lines = ['## Compute and speed', '',
             'Detector GMAC: multiply-accumulates of one detector pass on a 640×480 frame at shrink 0.5 (a '
             '%d×%d image, which a model config with `input_scale` reads that many times larger), from '
             '`paddle.flops` on the network the model config builds; the mask classifier is not included. '
             'ms per 640×480 frame: the whole pipeline (detect + classify at the model\'s '
             'default confidence threshold) on `%s` stretched to 640×480%s, fastest / median of %d runs, on the '
             'machine above. Other jobs on a shared CPU only ever add time, so the fastest run is the steadier '
             'figure and the one in the tables above. Compare within this report only.' % (
                 GMAC_INPUT[0], GMAC_INPUT[1], context['timing_image'],
                 '' if results['real_timing_frame'] else ' (not found: a grey frame)', context['timing_repeats']), '',
             '| model | detector GMAC at %d×%d | × %s | ' % (GMAC_INPUT[0], GMAC_INPUT[1], baseline)
             + ' | '.join('ms / 640×480 at shrink %g' % s for s in shrinks) + ' |',
             '|---|' + '---:|' * (len(shrinks) + 2)]
    for model in _models(results['rows']):
        gmac = info.get(model, {}).get('gmac')
        ratio = '%.2f' % (gmac / base) if gmac is not None and base else 'n/a'
        cells = ['%.0f / %.0f ms (%d faces)' % timings[model, s] for s in shrinks]
        lines.append('| %s | %s | %s | %s |' % (model, _gmac(gmac), ratio,
                                                ' | '.join(cells)))
    return lines + ['']


def render_report(results, context):
    rows, timings, shrinks = results['rows'], results['timings'], sorted({r['shrink'] for r in results['rows']})
    out = context['out']
    models = _models(rows)
    baseline = context.get('baseline') if context.get('baseline') in models else models[0]
    n, total = results['images'], results['total_images']
    lines = ['# Accuracy: %s' % ' vs '.join('`%s`' % m for m in models), '',
             'Regenerate with `%s` (cached per-image predictions are reused; a retrained model is run again).'
             % context['command'], '',
             'Generated %s on %s%s.' % (context['generated'], context['machine'], _duration(context.get('seconds'))),
             '',
             'Images used: ' + '; '.join('%s: %d of %d%s' % (name, n[name], total[name],
                                                            ' (spread evenly over the split)' if n[name] < total[name]
                                                            else '') for name in n) + '.', '']
    lines += ['Models (weights = first 12 hex digits of the SHA-1 of model.yml and both .pdiparams):', '']
    for model, info in results.get('model_info', {}).items():
        lines.append('- `%s`: %s (weights %s)' % (model, ' '.join(str(info['description']).split()), info['weights']))
    if context.get('note'):
        lines += ['', 'Note: %s' % context['note']]
    if context.get('missing_models'):
        lines += ['', 'Not evaluated (model files not present when this was generated): %s.'
                  % ', '.join('`%s`' % m for m in context['missing_models'])]
    lines += ['', '## Summary', '',
              'Face AP and recall in percent; recall at detector score %.1f. In brackets: the difference from `%s` '
              'at the same shrink.' % (RECALL_SCORE, baseline), ''] + _summary(
        rows, shrinks, baseline, timings, {m: i.get('gmac') for m, i in results.get('model_info', {}).items()}) + ['']
    for data, title in context['datasets'].items():
        if not any(r['data'] == data for r in rows):
            continue
        lines += ['## %s' % title, '', 'Ground-truth faces by width (px): %s.' % _face_counts(rows, data), '']
        lines += _dataset_table(rows, data, timings) + ['']
        lines += _attribute_section(rows, data)
        for shrink in shrinks:
            lines.append('![faces P-R, %s, shrink %g](figures/pr_face_%s_shrink%g.png)' % (data, shrink, data, shrink))
        lines.append('')
    cls = _classifier_section(rows)
    if cls:
        lines += ['## Mask classifier on ground-truth crops', '',
                  'The classifier alone, on the pipeline\'s crop of each labelled ground-truth box (independent '
                  'of the detector and of shrink). Rows: truth, columns: prediction.', ''] + cls
        class_figs = sorted(str(p.relative_to(out)) for k, p in results['figures'].items() if k[0] == 'classes')
        lines += ['MASK / NO MASK P-R curves: ' + ', '.join('[%s](%s)' % (os.path.basename(p), p)
                                                            for p in class_figs), '']
    lines += _compute_section(results, shrinks, baseline, context)
    lines += ['## How these numbers are measured', '',
              '- AP@0.5 with pycocotools `COCOeval` (bbox, IoU threshold 0.5 only, one area range, up to %d '
              'detections per image; AP = mean interpolated precision at COCO\'s 101 recall points).' % MAX_DETECTIONS,
              '- Face AP is class-agnostic. MASK / NO MASK AP: each detection goes to its classifier label with '
              'score = face score × that label\'s probability; `mask_weared_incorrect` counts as NO MASK.',
              '- Detections are kept down to score %.2f for AP and P-R curves; those at or above %.2f are '
              'classified.' % (SCORE_FLOOR, CLASSIFY_FLOOR),
              '- WIDER `invalid` faces are ignore regions (COCO `iscrowd`): detections on them count neither as hits '
              'nor as false positives, and they are not in the recall denominators. Zero-size WIDER faces are dropped.',
              '- Recall by face width (ground-truth box width in pixels of the stored image), precision and mask '
              'accuracy on matched faces are taken at detector score >= %.1f, matching detections to faces one-to-one '
              'at IoU >= 0.5 in descending score order (COCO\'s rule). Mask accuracy on matched faces = share of '
              'matched, labelled faces whose predicted label equals the ground truth.' % RECALL_SCORE,
              '- Recall by WIDER attribute uses the same matches, grouped by the attributes of the WIDER ground '
              'truth (pose typical / atypical, occlusion none / partial / heavy, blur clear / normal / heavy, as '
              'the WIDER FACE readme defines them). Sets without these attributes (the VOC mask sets) have no '
              'such table.',
              '- Every number above, the P-R points and the settings of each run: `accuracy.json`.', '']
    return '\n'.join(lines)
