"""The files of a run folder, built from journal entries (the same for every engine: the local loop in
``maskhub.batch.run``, ``merge`` and other engines call ``write_run_outputs``).

    predictions.csv/.parquet   one row per face
    images.csv/.parquet        one row per input image (per sampled video frame): status ok / no_face /
                               error, face and MASK / NO MASK counts, size, error; nothing goes missing
    errors.csv                 one row per failed item or frame
    summary.json               counts, timings, options; written last, so its presence means the rest is complete

A journal entry is ``{'path', 'kind', 'failed', 'rows': [face rows], 'errors': [{'path', 'frame', 'error'}],
'images': [{'frame', 'faces', 'mask', 'no_mask', 'width', 'height'}], 'units', ...}`` (see ``make_entry``).
Each file is written to a temporary name and renamed, so a full disk never leaves half a table behind.
"""
import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd

from maskhub.io.tables import ERROR_COLUMNS, TABLE_FORMATS, images_to_dataframe, rows_to_dataframe


def now_utc():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')


def image_summary(result):
    """The per-image record of one ``ImageResult`` (kept in the journal)."""
    n_mask = sum(1 for f in result.faces if f.label == 'MASK')
    return {'frame': result.frame, 'faces': len(result.faces), 'mask': n_mask, 'no_mask': len(result.faces) - n_mask,
            'width': result.image_width, 'height': result.image_height}


def make_entry(item_path, kind, results=(), errors=(), failed=False):
    """The journal entry of one finished item from its ``ImageResult``s and error dicts."""
    results = list(results)
    return {'path': item_path, 'kind': kind, 'failed': bool(failed),
            'rows': [row for r in results for row in r.rows()], 'errors': list(errors),
            'images': [image_summary(r) for r in results], 'units': len(results),
            'units_without_face': sum(1 for r in results if not r.faces),
            'detect_ms': sum(r.timings_ms.get('detect', 0.0) for r in results),
            'classify_ms': sum(r.timings_ms.get('classify', 0.0) for r in results)}


def failed_entry(item_path, kind, reason):
    return make_entry(item_path, kind, errors=[{'path': item_path, 'frame': None, 'error': reason}], failed=True)


def _images_of(entry):
    """Per-image records of an entry; journals written before the images table derive them from the rows."""
    if 'images' in entry:
        return entry['images']
    by_frame = {}
    for row in entry.get('rows', []):
        rec = by_frame.setdefault(row.get('frame'), {'frame': row.get('frame'), 'faces': 0, 'mask': 0, 'no_mask': 0,
                                                     'width': row.get('image_width'),
                                                     'height': row.get('image_height')})
        rec['faces'] += 1
        rec['mask' if row.get('label') == 'MASK' else 'no_mask'] += 1
    missing = entry.get('units_without_face', 0)
    return list(by_frame.values()) + [{'frame': None, 'faces': 0, 'mask': 0, 'no_mask': 0, 'width': None,
                                       'height': None}] * missing


def image_rows(entry):
    """The images-table rows of one journal entry: one per image or sampled frame, one per error."""
    rows = []
    for rec in _images_of(entry):
        rows.append({'path': entry['path'], 'frame': rec.get('frame'),
                     'status': 'ok' if rec.get('faces') else 'no_face', 'faces': rec.get('faces', 0),
                     'mask': rec.get('mask', 0), 'no_mask': rec.get('no_mask', 0), 'width': rec.get('width'),
                     'height': rec.get('height'), 'error': None})
    for err in entry.get('errors', []):
        rows.append({'path': err.get('path', entry['path']), 'frame': err.get('frame'), 'status': 'error',
                     'faces': 0, 'mask': 0, 'no_mask': 0, 'width': None, 'height': None, 'error': err.get('error')})
    return rows


def summarize(predictions, n_items, errors, elapsed_s, extra=None):
    faces = len(predictions)
    n_mask = int((predictions['label'] == 'MASK').sum()) if faces else 0
    frames = predictions.drop_duplicates(['path', 'frame']) if faces else predictions
    summary = {
        'items': n_items,
        'faces': faces,
        'mask': n_mask,
        'no_mask': faces - n_mask,
        'compliance_rate': round(n_mask / faces, 4) if faces else None,
        'images_with_faces': int(len(frames)),
        'errors': len(errors),
        'elapsed_s': round(elapsed_s, 3),
    }
    summary.update(extra or {})
    return summary


def _write_atomic(path, write):
    """``write(tmp_path)`` then rename over ``path``: readers see the old file or the whole new one."""
    path = Path(path)
    tmp = path.with_name('.%s.tmp' % path.name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


WRITERS = {'csv': lambda df, p: df.to_csv(p, index=False), 'parquet': lambda df, p: df.to_parquet(p, index=False),
           'json': lambda df, p: df.to_json(p, orient='records', indent=1)}     # json: a list of row records


def write_table(df, out, stem, formats=('csv', 'parquet')):
    """``<stem>.<format>`` in ``out`` for each of ``formats`` (TABLE_FORMATS), each written atomically;
    returns {format: path}."""
    unknown = set(formats) - set(TABLE_FORMATS)
    if unknown:
        raise ValueError('unknown table formats %s (choose from %s)' % (sorted(unknown), ', '.join(TABLE_FORMATS)))
    return {fmt: _write_atomic(Path(out) / ('%s.%s' % (stem, fmt)), lambda p, fmt=fmt: WRITERS[fmt](df, p))
            for fmt in formats}


def write_run_outputs(out, entries, started, opts_dict, elapsed_s, formats=('csv', 'parquet')):
    """Write every output file of a run folder from ``entries`` (item path -> journal entry); returns the summary."""
    out = Path(out)
    entries = list(entries.values()) if isinstance(entries, dict) else list(entries)
    rows = [row for e in entries for row in e.get('rows', [])]
    errors = [err for e in entries for err in e.get('errors', [])]
    predictions = rows_to_dataframe(rows)
    images = images_to_dataframe([row for e in entries for row in image_rows(e)])
    written = {'predictions': write_table(predictions, out, 'predictions', formats),
               'images': write_table(images, out, 'images', formats)}
    _write_atomic(out / 'errors.csv', lambda p: pd.DataFrame(errors, columns=ERROR_COLUMNS).to_csv(p, index=False))
    processed = [e for e in entries if e.get('units', 0) > 0]
    stills = [e for e in processed if e.get('kind') != 'video']
    videos = [e for e in processed if e.get('kind') == 'video']
    units = sum(e.get('units', 0) for e in processed)
    det_ms = sum(e.get('detect_ms', 0.0) for e in processed)
    cls_ms = sum(e.get('classify_ms', 0.0) for e in processed)
    status_counts = images['status'].value_counts()
    summary = summarize(predictions, len(entries), errors, elapsed_s, {
        'images': sum(e.get('units', 0) for e in stills),          # still images, not counting video frames
        'frames': sum(e.get('units', 0) for e in videos),          # sampled video frames
        'images_with_no_face': sum(e.get('units_without_face', 0) for e in stills),
        'frames_with_no_face': sum(e.get('units_without_face', 0) for e in videos),
        'image_rows': {s: int(status_counts.get(s, 0)) for s in ('ok', 'no_face', 'error')},
        'videos': sum(1 for e in entries if e.get('kind') == 'video'),
        'failed_items': sum(1 for e in entries if e.get('failed')),
        'mean_detect_ms': round(det_ms / units, 2) if units else None,
        'mean_classify_ms': round(cls_ms / units, 2) if units else None,
        'started_at': started, 'finished_at': now_utc(),
        'options': opts_dict,
        'files': {**{'%s_%s' % (stem, fmt): path.name for stem, paths in written.items() for fmt, path in paths.items()},
                  'errors_csv': 'errors.csv'},
    })
    _write_atomic(out / 'summary.json', lambda p: p.write_text(json.dumps(summary, indent=2), encoding='utf-8'))
    return summary
