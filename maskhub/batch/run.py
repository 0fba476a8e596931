"""Batch prediction into a run folder, resumable and shardable.

A run folder holds::

    journal.jsonl         one line per finished item (its face rows, or its error): the source of truth
    predictions.csv/.parquet, errors.csv, summary.json     rebuilt from the journal at the end
    images/               annotated images (--save-images)

``--resume`` skips items already in the journal; ``merge_runs`` joins several shards' folders.
"""
import datetime as dt
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from maskhub.batch.inputs import expand_inputs, select_shard
from maskhub.io.draw import draw_faces
from maskhub.io.images import ImageError, read_image
from maskhub.io.tables import ERROR_COLUMNS, rows_to_dataframe, write_predictions
from maskhub.io.video import VideoError, iter_frames

log = logging.getLogger(__name__)
JOURNAL = 'journal.jsonl'


@dataclass
class RunOptions:
    shrink: float = None
    confs_threshold: float = None
    use_multi_scale: bool = False
    video_every_n: int = None
    video_fps: float = None
    save_images: bool = False
    resume: bool = False
    num_shards: int = 1
    shard_index: int = 0
    progress: bool = True
    extra: dict = field(default_factory=dict)


def _read_journal(path):
    entries = {}
    if path.exists():
        for line in path.read_text(encoding='utf-8').splitlines():
            try:
                e = json.loads(line)
                entries[e['path']] = e
            except (ValueError, KeyError):
                continue        # a line cut short by a crash: that item is simply redone
    return entries


def annotated_image_stem(path):
    """File-name stem of the annotated copy of ``path`` under a run's images/ folder."""
    return re.sub(r'[^A-Za-z0-9._-]+', '_', str(path).lstrip('./'))[-180:]


def _process_image(detector, item, opts, images_dir, frames=None):
    loaded = read_image(item.path)
    result = detector.predict_image(loaded.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                    path=item.path, coordinate_scale=loaded.scale)
    if images_dir is not None:
        small = [{**f.to_hub_dict(), **{k: int(getattr(f, k) / loaded.scale) for k in ('left', 'top', 'right', 'bottom')}}
                 for f in result.faces]
        cv2.imwrite(str(images_dir / (annotated_image_stem(item.path) + '.jpg')), draw_faces(loaded.image, small))
    return [result], []


def _process_video(detector, item, opts, images_dir, frames=None):
    results, errors = [], []
    start, stop = frames or (0, None)
    try:
        for fr in iter_frames(item.path, opts.video_every_n, opts.video_fps, start=start, stop=stop):
            r = detector.predict_image(fr.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                       path=item.path, frame=fr.index, timestamp_s=round(fr.timestamp_s, 3))
            results.append(r)
            if images_dir is not None:
                name = '%s_f%06d.jpg' % (annotated_image_stem(item.path), fr.index)
                cv2.imwrite(str(images_dir / name), draw_faces(fr.image, r.faces))
    except VideoError as err:
        if not results:
            raise
        errors.append({'path': item.path, 'frame': None, 'error': err.reason})
    return results, errors


def process_item(detector, item, opts, images_dir=None, frames=None):
    """Predict one work item (an image, a video, or frames [start, stop) of a video) -> its journal entry.

    Never raises for a bad item: the failure is recorded in the entry's ``errors``.
    """
    entry = {'path': item.path, 'kind': item.kind, 'failed': False}
    if frames is not None:
        entry['frames'] = list(frames)
    try:
        handler = _process_video if item.kind == 'video' else _process_image
        results, errors = handler(detector, item, opts, images_dir, frames)
        entry.update(rows=[row for r in results for row in r.rows()], errors=errors, units=len(results),
                     units_without_face=sum(1 for r in results if not r.faces),
                     detect_ms=sum(r.timings_ms['detect'] for r in results),
                     classify_ms=sum(r.timings_ms['classify'] for r in results))
    except (ImageError, VideoError) as err:
        entry.update(failed=True, rows=[], errors=[{'path': item.path, 'frame': None, 'error': err.reason}])
    except Exception as err:       # keep the batch going; the reason is recorded, not lost
        log.exception('unexpected failure on %s', item.path)
        entry.update(failed=True, rows=[], errors=[{'path': item.path, 'frame': None,
                                                     'error': '%s: %s' % (type(err).__name__, err)}])
    for e in entry['errors']:
        log.warning('%s: %s', e['path'], e['error'])
    return entry


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


def finish_run(out, entries, started, opts_dict, elapsed_s):
    """Rebuild predictions.csv/.parquet, errors.csv and summary.json from the journal entries."""
    rows = [row for e in entries.values() for row in e.get('rows', [])]
    errors = [err for e in entries.values() for err in e.get('errors', [])]
    predictions = rows_to_dataframe(rows)
    csv_path, parquet_path = write_predictions(predictions, out)
    pd.DataFrame(errors, columns=ERROR_COLUMNS).to_csv(out / 'errors.csv', index=False)
    processed = [e for e in entries.values() if e.get('units', 0) > 0]
    units = sum(e.get('units', 0) for e in processed)
    det_ms = sum(e.get('detect_ms', 0.0) for e in processed)
    cls_ms = sum(e.get('classify_ms', 0.0) for e in processed)
    summary = summarize(predictions, len(entries), errors, elapsed_s, {
        'images': units,
        'images_with_no_face': sum(e.get('units_without_face', 0) for e in processed),
        'videos': sum(1 for e in entries.values() if e.get('kind') == 'video'),
        'failed_items': sum(1 for e in entries.values() if e.get('failed')),
        'mean_detect_ms': round(det_ms / units, 2) if units else None,
        'mean_classify_ms': round(cls_ms / units, 2) if units else None,
        'started_at': started, 'finished_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
        'options': opts_dict,
        'files': {'predictions_csv': csv_path.name, 'predictions_parquet': parquet_path.name,
                  'errors_csv': 'errors.csv'},
    })
    (out / 'summary.json').write_text(json.dumps(summary, indent=2), encoding='utf-8')
    return summary


@dataclass
class RunFolder:
    """A run folder opened for writing: what is to do and what a previous run (``--resume``) finished."""
    out: Path
    images_dir: Path
    journal_path: Path
    items: list
    entries: dict           # path -> journal entry, finished ones (and input errors)
    todo: list
    started: str


def open_run(inputs, out_dir, opts):
    """Create / reopen ``out_dir``, expand and shard ``inputs``, read the journal when resuming."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images_dir = None
    if opts.save_images:
        images_dir = out / 'images'
        images_dir.mkdir(exist_ok=True)
    items, input_errors = expand_inputs(inputs)
    items = select_shard(items, opts.num_shards, opts.shard_index)
    journal_path = out / JOURNAL
    if not opts.resume and journal_path.exists():
        journal_path.unlink()
    entries = _read_journal(journal_path)
    for err in input_errors:
        entries[err.path] = {'path': err.path, 'kind': 'input', 'failed': True, 'rows': [],
                             'errors': [{'path': err.path, 'frame': None, 'error': err.error}]}
    todo = [it for it in items if it.path not in entries]
    log.info('%d items (%d already done), writing to %s', len(items), len(items) - len(todo), out)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')
    return RunFolder(out, images_dir, journal_path, items, entries, todo, started)


def run_options(opts, model, inputs, **extra):
    """The ``options`` block of summary.json."""
    opts_dict = {k: v for k, v in vars(opts).items() if k != 'extra'}
    opts_dict.update(model=model, inputs=[str(i) for i in inputs], **opts.extra, **extra)
    return opts_dict


def run_batch(detector, inputs, out_dir, opts=None):
    """Predict every item of ``inputs`` into ``out_dir``; returns the summary dict."""
    opts = opts or RunOptions()
    run = open_run(inputs, out_dir, opts)
    t0 = time.perf_counter()
    with open(run.journal_path, 'a', encoding='utf-8') as journal:
        for item in tqdm(run.todo, desc='predict', unit='item', disable=not opts.progress):
            entry = process_item(detector, item, opts, run.images_dir)
            journal.write(json.dumps(entry) + '\n')
            journal.flush()
            run.entries[item.path] = entry
    return finish_run(run.out, run.entries, run.started, run_options(opts, detector.name, inputs),
                      time.perf_counter() - t0)


def merge_runs(run_dirs, out_dir):
    """Join the journals of several run folders (e.g. shards) into one run folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries, elapsed, options = {}, 0.0, []
    for d in run_dirs:
        d = Path(d)
        if not (d / JOURNAL).exists():
            raise FileNotFoundError('%s is not a maskhub run folder (no %s)' % (d, JOURNAL))
        entries.update(_read_journal(d / JOURNAL))
        if (d / 'summary.json').exists():
            s = json.loads((d / 'summary.json').read_text())
            elapsed += s.get('elapsed_s', 0.0)
            options.append(s.get('options', {}))
    with open(out / JOURNAL, 'w', encoding='utf-8') as f:
        for e in entries.values():
            f.write(json.dumps(e) + '\n')
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')
    return finish_run(out, entries, started, {'merged_from': [str(d) for d in run_dirs], 'shards': options}, elapsed)
