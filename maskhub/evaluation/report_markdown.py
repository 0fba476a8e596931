"""reports/accuracy.md from the results of ``maskhub.evaluation.report``."""
import os

from maskhub.evaluation.coco import MAX_DETECTIONS
from maskhub.evaluation.evaluate import CLASSIFY_FLOOR, RECALL_SCORE, SCORE_FLOOR
from maskhub.evaluation.operating_point import WIDTH_BINS

BASELINE, CROWD, SERVER = 'mobile', 'mobile_crowd', 'server'
RECALL_COLUMNS = list(WIDTH_BINS) + ['<32', 'all']
GAIN_TARGET = 10.0          # points over the official mobile weights
ACCURACY_SLACK = 1.0        # points of matched-face mask accuracy the crowd model may lose


def _num(x, signed=False):
    if x is None or x != x:     # None or NaN
        return 'n/a'
    return ('%+.1f' if signed else '%.1f') % x


def _find(rows, model, data, shrink):
    for r in rows:
        if (r['model'], r['data'], r['shrink']) == (model, data, shrink):
            return r['headline']
    return None


def _target_lines(rows, shrinks):
    """Target table rows and plain-language shortfalls: each maskhub model against the official weights at
    the same shrink, then server against mobile_crowd."""
    checks = []
    for model in (CROWD, SERVER):
        for shrink in shrinks:
            base, ours = _find(rows, BASELINE, 'wider-val', shrink), _find(rows, model, 'wider-val', shrink)
            mbase, mours = _find(rows, BASELINE, 'mask-val', shrink), _find(rows, model, 'mask-val', shrink)
            checks.append(('WIDER val face AP@0.5', model, shrink, base and base['face_ap'],
                           ours and ours['face_ap'], '>= +%.0f' % GAIN_TARGET, GAIN_TARGET))
            checks.append(('WIDER val recall of faces < 32 px at score %.1f' % RECALL_SCORE, model, shrink,
                           base and base['recall']['<32'], ours and ours['recall']['<32'],
                           '>= +%.0f' % GAIN_TARGET, GAIN_TARGET))
            checks.append(('mask val mask/no-mask accuracy on matched faces', model, shrink,
                           mbase and mbase['matched_mask_accuracy'], mours and mours['matched_mask_accuracy'],
                           '>= %+.0f' % -ACCURACY_SLACK, -ACCURACY_SLACK))
    lines = ['| criterion | model | shrink | official mobile | model | difference | target | reached |',
             '|---|---|---:|---:|---:|---:|---:|---|']
    shortfalls = []
    for name, model, shrink, a, b, target_text, target in checks:
        if a is None or b is None:
            met, diff = 'pending (model not evaluated)', None
        else:
            diff = b - a
            met = 'yes' if diff >= target else '**no**'
            if diff < target:
                shortfalls.append('%s, %s vs official mobile at shrink %g: %s points (target %s).'
                                  % (name, model, shrink, _num(diff, True), target_text))
        lines.append('| %s | %s | %g | %s | %s | %s | %s | %s |' % (name, model, shrink, _num(a), _num(b),
                                                                   _num(diff, True), target_text, met))
    lines += ['', '| criterion | shrink | mobile_crowd | server | difference | target | reached |',
              '|---|---:|---:|---:|---:|---:|---|']
    for data in ('wider-val', 'mask-val'):
        for shrink in shrinks:
            crowd, server = _find(rows, CROWD, data, shrink), _find(rows, SERVER, data, shrink)
            if crowd is None or server is None:
                met, diff = 'pending (model not evaluated)', None
            else:
                diff = server['face_ap'] - crowd['face_ap']
                met = 'yes' if diff > 0 else '**no**'
                if diff <= 0:
                    shortfalls.append('server face AP@0.5 not above mobile_crowd on %s at shrink %g (%s points).'
                                      % (data, shrink, _num(diff, True)))
            lines.append('| %s face AP@0.5, server vs mobile_crowd | %g | %s | %s | %s | > 0 | %s |' % (
                data, shrink, _num(crowd and crowd['face_ap']), _num(server and server['face_ap']),
                _num(diff, True), met))
    return lines, shortfalls


def _dataset_table(rows, data, timings):
    with_classes = data == 'mask-val'
    head = ['model', 'shrink', 'face AP@0.5']
    if with_classes:
        head += ['MASK AP', 'NO MASK AP', 'mean']
    head += ['recall %s' % c for c in RECALL_COLUMNS] + ['precision']
    if with_classes:
        head += ['mask acc. (matched)']
    head += ['ms / 640×480']
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
    for r in rows:
        if r['data'] != data:
            continue
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
        if r['data'] != 'mask-val' or c is None or r['shrink'] != min(x['shrink'] for x in rows):
            continue
        labels = c['labels']
        lines.append('**%s**: accuracy %.1f, macro F1 %.1f on %d faces' % (
            r['model'], 100 * c['accuracy'], 100 * c['macro_f1'], c['faces']))
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


def render_report(results, context):
    rows, timings, shrinks = results['rows'], results['timings'], sorted({r['shrink'] for r in results['rows']})
    out = context['out']
    goal, shortfalls = _target_lines(rows, shrinks)
    n, total = results['images'], results['total_images']
    lines = ['# Accuracy: official mobile vs mobile_crowd vs server', '',
             'Regenerate with `%s` (without `--models`: every registered model whose files exist; cached per-image '
             'predictions are reused).'
             % context['command'], '',
             'Generated %s on %s.' % (context['generated'], context['machine']), '',
             'Images used: ' + '; '.join('%s: %d of %d%s' % (name, n[name], total[name],
                                                            ' (spread evenly over the split)' if n[name] < total[name]
                                                            else '') for name in n) + '.', '']
    lines += ['Models evaluated (weights = first 12 hex digits of the SHA-1 of model.yml and both .pdiparams):', '']
    for model, info in results.get('model_info', {}).items():
        lines.append('- `%s`: %s (weights %s)' % (model, ' '.join(str(info['description']).split()), info['weights']))
    if context.get('note'):
        lines += ['', 'Note: %s' % context['note']]
    if context['missing_models']:
        lines.append('Not evaluated (model files not present when this was generated): %s.'
                     % ', '.join('`%s`' % m for m in context['missing_models']))
    lines += ['', '## Against the official weights, on the crowd val split (WIDER val)', ''] + goal + ['']
    if shortfalls:
        lines += ['Where we fall short:', ''] + ['- ' + s for s in shortfalls] + ['']
    elif any('pending' in l for l in goal):
        lines += ['The comparison is incomplete until the missing models are evaluated.', '']
    else:
        lines += ['Every target is reached on these images.', '']
    for data, title in context['datasets'].items():
        if not any(r['data'] == data for r in rows):
            continue
        lines += ['## %s' % title, '', 'Ground-truth faces by width (px): %s.' % _face_counts(rows, data), '']
        lines += _dataset_table(rows, data, timings) + ['']
        for shrink in shrinks:
            lines.append('![faces P-R, %s, shrink %g](figures/pr_face_%s_shrink%g.png)' % (data, shrink, data, shrink))
        lines.append('')
    cls = _classifier_section(rows)
    if cls:
        lines += ['## Mask classifier on ground-truth crops (mask val)', '',
                  'The classifier alone, on the pipeline\'s crop of each labelled ground-truth box (independent '
                  'of the detector and of shrink). Rows: truth, columns: prediction.', ''] + cls
        class_figs = sorted(str(p.relative_to(out)) for k, p in results['figures'].items() if k[0] == 'classes')
        lines += ['MASK / NO MASK P-R curves: ' + ', '.join('[%s](%s)' % (os.path.basename(p), p)
                                                            for p in class_figs), '']
    lines += ['## Speed', '',
              'ms per 640×480 frame through the whole pipeline (detect + classify at the model\'s default '
              'confidence threshold) on `%s` stretched to 640×480%s, fastest / median of the runs, on the machine '
              'above. The CPU is shared with training jobs, so medians swing with their load; the fastest run is '
              'the steadier figure and the one in the tables above. Compare within this report only.' % (
                  context['timing_image'], '' if results['real_timing_frame'] else ' (not found: a grey frame)'), '',
              '| model | ' + ' | '.join('shrink %g' % s for s in shrinks) + ' |',
              '|---|' + '---:|' * len(shrinks)]
    for model in dict.fromkeys(r['model'] for r in rows):
        cells = ['%.0f / %.0f ms (%d faces)' % timings[model, s] for s in shrinks]
        lines.append('| %s | %s |' % (model, ' | '.join(cells)))
    lines += ['', '## How these numbers are measured', '',
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
              '- Every number above, the P-R points and the settings of each run: `accuracy.json`.', '']
    return '\n'.join(lines)
