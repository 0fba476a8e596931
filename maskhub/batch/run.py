"""Batch prediction into a run folder, resumable and shardable.

A run folder holds::

    journal.jsonl         one line per finished item (its face rows, or its error): the source of truth
    predictions.csv/.parquet, errors.csv, summary.json     rebuilt from the journal at the end
    images/, videos/, crops/   annotated images, annotated videos, face crops (maskhub.batch.outputs)

``--resume`` skips items already in the journal; ``merge_runs`` joins several shards' folders.
"""
import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from maskhub.batch.inputs import expand_inputs, select_shard
from maskhub.batch.outputs import RunOutputs
from maskhub.io.images import ImageError, read_image
from maskhub.io.tables import ERROR_COLUMNS, rows_to_dataframe, write_predictions
from maskhub.io.video import VideoError, iter_frames, probe_video

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
    save_crops: bool = False
    save_video: bool = False
    formats: tuple = ('csv', 'parquet')
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


def _process_image(detector, item, opts, outputs, progress):
    loaded = read_image(item.path)
    result = detector.predict_image(loaded.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                    path=item.path, coordinate_scale=loaded.scale)
    if loaded.scale != 1:       # decoded at reduced scale: draw in the decoded pixels
        faces = [{**f.to_hub_dict(), **{k: int(getattr(f, k) / loaded.scale) for k in ('left', 'top', 'right', 'bottom')}}
                 for f in result.faces]
    else:
        faces = result.faces
    outputs.image(item.path, loaded.image, faces)
    progress.update(1)
    return [result], []


def _process_video(detector, item, opts, outputs, progress):
    results, errors, writer = [], [], None
    sampled_fps, _, size = probe_video(item.path, opts.video_every_n, opts.video_fps)
    try:
        for fr in iter_frames(item.path, opts.video_every_n, opts.video_fps):
            r = detector.predict_image(fr.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                       path=item.path, frame=fr.index, timestamp_s=round(fr.timestamp_s, 3))
            results.append(r)
            annotated = outputs.image(item.path, fr.image, r.faces, frame=fr.index)
            if outputs.save_video:
                if writer is None:
                    writer = outputs.video_writer(item.path, sampled_fps or 25.0, fr.image.shape[1::-1])
                writer.write(annotated)
            progress.update(1)
    except VideoError as err:
        if not results:
            raise
        errors.append({'path': item.path, 'frame': None, 'error': err.reason})
    finally:
        if writer is not None:
            writer.release()
    return results, errors


def _progress_total(todo, opts):
    """Images count one each, videos their sampled frames (from the header), so a video's bar moves per frame."""
    total = 0
    for item in todo:
        frames = probe_video(item.path, opts.video_every_n, opts.video_fps)[1] if item.kind == 'video' else 1
        total += frames or 1
    return total


def summarize(predictions, n_items, errors, elapsed_s, extra=None):
    faces = len(predictions)
    n_mask = int((predictions['label'] == 'MASK').sum()) if faces else 0
    frames = predictions.drop_duplicates(['path', 'frame']) if faces else predictions
    summary = {
        'items': n_items,
        'images': 0,
        'frames': 0,
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


def _finish(out, entries, started, opts_dict, elapsed_s, formats=('csv', 'parquet')):
    rows = [row for e in entries.values() for row in e.get('rows', [])]
    errors = [err for e in entries.values() for err in e.get('errors', [])]
    predictions = rows_to_dataframe(rows)
    written = write_predictions(predictions, out, formats)
    pd.DataFrame(errors, columns=ERROR_COLUMNS).to_csv(out / 'errors.csv', index=False)
    processed = [e for e in entries.values() if e.get('units', 0) > 0]
    units = sum(e.get('units', 0) for e in processed)
    det_ms = sum(e.get('detect_ms', 0.0) for e in processed)
    cls_ms = sum(e.get('classify_ms', 0.0) for e in processed)
    videos = [e for e in processed if e.get('kind') == 'video']
    stills = [e for e in processed if e.get('kind') != 'video']
    summary = summarize(predictions, len(entries), errors, elapsed_s, {
        'images': sum(e.get('units', 0) for e in stills),
        'frames': sum(e.get('units', 0) for e in videos),
        'images_with_no_face': sum(e.get('units_without_face', 0) for e in stills),
        'frames_with_no_face': sum(e.get('units_without_face', 0) for e in videos),
        'videos': sum(1 for e in entries.values() if e.get('kind') == 'video'),
        'failed_items': sum(1 for e in entries.values() if e.get('failed')),
        'mean_detect_ms': round(det_ms / units, 2) if units else None,
        'mean_classify_ms': round(cls_ms / units, 2) if units else None,
        'started_at': started, 'finished_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
        'options': opts_dict,
        'files': {**{'predictions_%s' % fmt: path.name for fmt, path in written.items()},
                  'errors_csv': 'errors.csv'},
    })
    (out / 'summary.json').write_text(json.dumps(summary, indent=2), encoding='utf-8')
    return summary


def run_batch(detector, inputs, out_dir, opts=None):
    """Predict every item of ``inputs`` into ``out_dir``; returns the summary dict."""
    opts = opts or RunOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
    t0 = time.perf_counter()
    outputs = RunOutputs(out, [it.path for it in items], opts.save_images, opts.save_crops, opts.save_video)
    progress = tqdm(total=_progress_total(todo, opts) if opts.progress else 0, desc='predict', unit='image',
                    disable=not opts.progress)
    with open(journal_path, 'a', encoding='utf-8') as journal, progress:
        for item in todo:
            entry = {'path': item.path, 'kind': item.kind, 'failed': False}
            try:
                handler = _process_video if item.kind == 'video' else _process_image
                results, errors = handler(detector, item, opts, outputs, progress)
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
            journal.write(json.dumps(entry) + '\n')
            journal.flush()
            entries[item.path] = entry
    opts_dict = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(opts).items() if k != 'extra'}
    opts_dict.update(model=detector.name, inputs=[str(i) for i in inputs], output_name_depth=outputs.depth, **opts.extra)
    return _finish(out, entries, started, opts_dict, time.perf_counter() - t0, opts.formats)


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
    return _finish(out, entries, started, {'merged_from': [str(d) for d in run_dirs], 'shards': options}, elapsed)
