"""Batch prediction into a run folder, resumable and shardable.

A run folder holds::

    journal.jsonl         one line per finished item (its face rows, per-image records, or its error):
                          the source of truth, crash-safe (see ``maskhub.batch.journal``)
    predictions.csv/.parquet, images.csv/.parquet, errors.csv, summary.json
                          rebuilt from the journal at the end (``maskhub.batch.outputs``)
    images/               annotated images (--save-images)

``--resume`` skips items already in the journal; ``merge_runs`` joins several shards' folders.
The output folder is checked before anything is predicted (``maskhub.io.paths.check_output_dir``);
a disk that fills up mid-run stops the run with ``OutputFullError``, the journal valid and resumable.
"""
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from tqdm import tqdm

from maskhub.batch.inputs import expand_inputs, select_shard
from maskhub.batch.journal import (JOURNAL, JournalWriter, is_out_of_space, read_journal_strict,
                                   repair_journal)
from maskhub.batch.outputs import failed_entry, make_entry, now_utc, summarize, write_run_outputs  # noqa: F401
from maskhub.io.draw import draw_faces
from maskhub.io.images import ImageError, read_image
from maskhub.io.paths import DEFAULT_MIN_FREE_MB, check_output_dir
from maskhub.io.video import VideoError, iter_frames

log = logging.getLogger(__name__)


class OutputFullError(OSError):
    """The output disk filled up during a run: what is in the journal is kept, ``--resume`` continues."""


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
    min_free_mb: float = DEFAULT_MIN_FREE_MB      # refuse to start with less free space on the output disk
    extra: dict = field(default_factory=dict)


def annotated_image_stem(path):
    """File-name stem of the annotated copy of ``path`` under a run's images/ folder."""
    return re.sub(r'[^A-Za-z0-9._-]+', '_', str(path).lstrip('./'))[-180:]


def _write_jpeg(path, image):
    """cv2.imwrite hides why it failed; encode here and write with Python so a full disk is an OSError."""
    ok, buf = cv2.imencode('.jpg', image)
    if not ok:
        raise ValueError('could not encode %s' % path)
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _process_image(detector, item, opts, images_dir, frames=None):
    loaded = read_image(item.path)
    result = detector.predict_image(loaded.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                    path=item.path, coordinate_scale=loaded.scale)
    if images_dir is not None:
        small = [{**f.to_hub_dict(), **{k: int(getattr(f, k) / loaded.scale) for k in ('left', 'top', 'right', 'bottom')}}
                 for f in result.faces]
        _write_jpeg(images_dir / (annotated_image_stem(item.path) + '.jpg'), draw_faces(loaded.image, small))
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
                _write_jpeg(images_dir / name, draw_faces(fr.image, r.faces))
    except VideoError as err:
        if not results:
            raise
        errors.append({'path': item.path, 'frame': None, 'error': err.reason})
    return results, errors


def process_item(detector, item, opts, images_dir=None, frames=None):
    """Predict one work item (an image, a video, or frames [start, stop) of a video) -> its journal entry.

    A bad item never raises: the failure is recorded in the entry's ``errors``. Running out of disk
    space does raise (``is_out_of_space``): the run must stop, not record the item as failed.
    """
    try:
        handler = _process_video if item.kind == 'video' else _process_image
        results, errors = handler(detector, item, opts, images_dir, frames)
        entry = make_entry(item.path, item.kind, results, errors)
    except (ImageError, VideoError) as err:
        entry = failed_entry(item.path, item.kind, err.reason)
    except OSError as err:
        if is_out_of_space(err):
            raise
        log.exception('unexpected failure on %s', item.path)
        entry = failed_entry(item.path, item.kind, '%s: %s' % (type(err).__name__, err))
    except Exception as err:       # keep the batch going; the reason is recorded, not lost
        log.exception('unexpected failure on %s', item.path)
        entry = failed_entry(item.path, item.kind, '%s: %s' % (type(err).__name__, err))
    if frames is not None:
        entry['frames'] = list(frames)
    for e in entry['errors']:
        log.warning('%s: %s', e['path'], e['error'])
    return entry


def out_of_space(out, done, err):
    """The ``OutputFullError`` of a run that filled its disk after ``done`` items."""
    return OutputFullError(err.errno, '%s: disk full (%s) after %d item(s); the journal keeps them: free space '
                           'and rerun the same command with --resume' % (out, err.strerror, done))


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
    """Check and create ``out_dir`` (``OutputDirError`` before any work), expand and shard ``inputs``; when
    resuming, make the journal safe to append to (unusable lines quarantined and their items redone), else
    start a new one. Inputs naming nothing usable are journaled as failed entries here."""
    out = check_output_dir(out_dir, opts.min_free_mb)
    images_dir = None
    if opts.save_images:
        images_dir = out / 'images'
        images_dir.mkdir(exist_ok=True)
    items, input_errors = expand_inputs(inputs)
    items = select_shard(items, opts.num_shards, opts.shard_index)
    journal_path = out / JOURNAL
    if not opts.resume and journal_path.exists():
        journal_path.unlink()
    entries = repair_journal(journal_path).entries if opts.resume else {}
    new_errors = [err for err in input_errors if err.path not in entries]
    try:
        with JournalWriter(journal_path) as journal:
            for err in new_errors:
                log.warning('%s: %s', err.path, err.error)
                entries[err.path] = failed_entry(err.path, 'input', err.error)
                journal.append(entries[err.path])
    except OSError as err:
        if is_out_of_space(err):
            raise out_of_space(out, 0, err) from None
        raise
    todo = [it for it in items if it.path not in entries]
    log.info('%d items (%d already done), writing to %s', len(items), len(items) - len(todo), out)
    return RunFolder(out, images_dir, journal_path, items, entries, todo, now_utc())


def run_options(opts, model, inputs, **extra):
    """The ``options`` block of summary.json."""
    opts_dict = {k: v for k, v in vars(opts).items() if k != 'extra'}
    opts_dict.update(model=model, inputs=[str(i) for i in inputs], **opts.extra, **extra)
    return opts_dict


def run_batch(detector, inputs, out_dir, opts=None):
    """Predict every item of ``inputs`` into ``out_dir``; returns the summary dict.
    Raises ``OutputDirError`` (unusable folder) before predicting, ``OutputFullError`` when the disk fills up."""
    opts = opts or RunOptions()
    run = open_run(inputs, out_dir, opts)
    t0 = time.perf_counter()
    done = 0
    with JournalWriter(run.journal_path) as journal:
        try:
            for item in tqdm(run.todo, desc='predict', unit='item', disable=not opts.progress):
                entry = process_item(detector, item, opts, run.images_dir)
                journal.append(entry)
                run.entries[item.path] = entry
                done += 1
        except OSError as err:
            if is_out_of_space(err):
                raise out_of_space(run.out, done, err) from None
            raise
    return finish_run(run.out, run.entries, run.started, run_options(opts, detector.name, inputs),
                      time.perf_counter() - t0)


def finish_run(out, entries, started, opts_dict, elapsed_s):
    """Rebuild every table and summary.json from the journal entries (``write_run_outputs``); a full disk
    is an ``OutputFullError`` (the journal is complete, rerunning with --resume only rewrites the tables)."""
    try:
        return write_run_outputs(out, entries, started, opts_dict, elapsed_s)
    except OSError as err:
        if is_out_of_space(err):
            raise OutputFullError(err.errno, '%s: disk full (%s) while writing the tables; the journal is complete: '
                                  'free space and rerun with --resume' % (out, err.strerror)) from None
        raise


def merge_runs(run_dirs, out_dir):
    """Join the journals of several run folders (e.g. shards) into one run folder. A journal with an
    unreadable line is a ``JournalError`` (nothing is written): its items would silently go missing."""
    entries, elapsed, options = {}, 0.0, []
    contents = []
    for d in run_dirs:
        d = Path(d)
        if not (d / JOURNAL).exists():
            raise FileNotFoundError('%s is not a maskhub run folder (no %s)' % (d, JOURNAL))
        contents.append(read_journal_strict(d / JOURNAL))
    out = check_output_dir(out_dir)
    for d, c in zip(run_dirs, contents):
        entries.update(c.entries)
        summary_path = Path(d) / 'summary.json'
        if summary_path.exists():
            s = json.loads(summary_path.read_text())
            elapsed += s.get('elapsed_s', 0.0)
            options.append(s.get('options', {}))
    journal_path = out / JOURNAL
    if journal_path.exists():
        journal_path.unlink()
    with JournalWriter(journal_path, sync=False) as journal:
        for e in entries.values():
            journal.append(e)
    return finish_run(out, entries, now_utc(), {'merged_from': [str(d) for d in run_dirs], 'shards': options},
                      elapsed)
