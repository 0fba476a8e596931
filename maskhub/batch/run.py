"""Batch prediction into a run folder, resumable and shardable.

A run folder holds::

    journal.jsonl         one line per finished item (its face rows, per-image records, or its error):
                          the source of truth, crash-safe (see ``maskhub.batch.journal``)
    predictions.csv/.parquet, images.csv/.parquet, errors.csv, summary.json
                          rebuilt from the journal at the end (``maskhub.batch.outputs``)
    images/, videos/, crops/   annotated images and videos, face crops (``maskhub.batch.artifacts``)

``--resume`` skips items already in the journal; ``merge_runs`` joins several shards' folders.
The output folder is checked before anything is predicted (``maskhub.io.paths.check_output_dir``);
a disk that fills up mid-run stops the run with ``OutputFullError``, the journal valid and resumable.
"""
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from maskhub.batch.artifacts import RunArtifacts
from maskhub.batch.inputs import expand_inputs, select_shard
from maskhub.batch.journal import (JOURNAL, JournalWriter, is_out_of_space, read_journal_strict,
                                   repair_journal)
from maskhub.batch.outputs import failed_entry, make_entry, now_utc, summarize, write_run_outputs  # noqa: F401
from maskhub.io.images import ImageError, read_image
from maskhub.io.paths import DEFAULT_MIN_FREE_MB, check_output_dir
from maskhub.io.video import VideoError, iter_frames, probe_video

log = logging.getLogger(__name__)
PREFETCH_IMAGES = 2       # images decoded ahead of the one being predicted


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
    save_crops: bool = False
    save_video: bool = False
    formats: tuple = ('csv', 'parquet')
    resume: bool = False
    num_shards: int = 1
    shard_index: int = 0
    progress: bool = True
    min_free_mb: float = DEFAULT_MIN_FREE_MB      # refuse to start with less free space on the output disk
    extra: dict = field(default_factory=dict)


def _process_image(detector, item, opts, artifacts, frames=None, progress=None, preloaded=None):
    loaded = preloaded.result() if preloaded is not None else read_image(item.path)
    result = detector.predict_image(loaded.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                    path=item.path, coordinate_scale=loaded.scale)
    if artifacts is not None:
        faces = result.faces
        if loaded.scale != 1:       # decoded at reduced scale: draw in the decoded pixels
            faces = [{**f.to_hub_dict(), **{k: int(getattr(f, k) / loaded.scale)
                                            for k in ('left', 'top', 'right', 'bottom')}} for f in result.faces]
        artifacts.image(item.path, loaded.image, faces)
    if progress is not None:
        progress(1)
    return [result], []


def _process_video(detector, item, opts, artifacts, frames=None, progress=None):
    results, errors, writer = [], [], None
    start, stop = frames or (0, None)
    # an annotated video is written from a whole video only (not from a segment of frames of it)
    save_video = artifacts is not None and artifacts.save_video and frames is None
    try:
        for fr in iter_frames(item.path, opts.video_every_n, opts.video_fps, start=start, stop=stop):
            r = detector.predict_image(fr.image, opts.shrink, opts.confs_threshold, opts.use_multi_scale,
                                       path=item.path, frame=fr.index, timestamp_s=round(fr.timestamp_s, 3))
            results.append(r)
            if artifacts is not None:
                annotated = artifacts.image(item.path, fr.image, r.faces, frame=fr.index)
                if save_video:
                    if writer is None:
                        fps = probe_video(item.path, opts.video_every_n, opts.video_fps)[0] or 25.0
                        writer = artifacts.video_writer(item.path, fps, fr.image.shape[1::-1])
                    writer.write(annotated)
            if progress is not None:
                progress(1)
    except VideoError as err:
        if not results:
            raise
        errors.append({'path': item.path, 'frame': None, 'error': err.reason})
    finally:
        if writer is not None:
            writer.release()
    return results, errors


def progress_units(items, opts):
    """Images count one each, videos their sampled frames (from the header), so that a progress bar moves
    per frame through a video."""
    return sum((probe_video(it.path, opts.video_every_n, opts.video_fps)[1] or 1) if it.kind == 'video' else 1
               for it in items)


def process_item(detector, item, opts, artifacts=None, frames=None, progress=None, preloaded=None):
    """Predict one work item (an image, a video, or frames [start, stop) of a video) -> its journal entry.

    ``artifacts``: the run's ``RunArtifacts`` (annotated images, videos, crops), or None;
    ``progress``: called with the number of images / frames done, as they are done;
    ``preloaded``: for an image, a future of its ``read_image`` (decoded ahead by ``run_batch``'s reader).

    A bad item never raises: the failure is recorded in the entry's ``errors``. Running out of disk
    space does raise (``is_out_of_space``): the run must stop, not record the item as failed.
    """
    try:
        if item.kind == 'video':
            results, errors = _process_video(detector, item, opts, artifacts, frames, progress)
        else:
            results, errors = _process_image(detector, item, opts, artifacts, frames, progress, preloaded)
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
    artifacts: RunArtifacts     # None when no annotated image, video or crop is asked for
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
    items, input_errors = expand_inputs(inputs)
    items = select_shard(items, opts.num_shards, opts.shard_index)
    artifacts = None
    if opts.save_images or opts.save_crops or opts.save_video:
        artifacts = RunArtifacts(out, [it.path for it in items], opts.save_images, opts.save_crops, opts.save_video)
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
    return RunFolder(out, artifacts, journal_path, items, entries, todo, now_utc())


def run_options(opts, model, inputs, artifacts=None, **extra):
    """The ``options`` block of summary.json (with how the run named its annotated files)."""
    opts_dict = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(opts).items() if k != 'extra'}
    if artifacts is not None:
        extra['output_name_depth'] = artifacts.depth
    opts_dict.update(model=model, inputs=[str(i) for i in inputs], **opts.extra, **extra)
    return opts_dict


def run_batch(detector, inputs, out_dir, opts=None):
    """Predict every item of ``inputs`` into ``out_dir``; returns the summary dict.
    Raises ``OutputDirError`` (unusable folder) before predicting, ``OutputFullError`` when the disk fills up."""
    opts = opts or RunOptions()
    run = open_run(inputs, out_dir, opts)
    t0 = time.perf_counter()
    done = 0
    bar = tqdm(total=progress_units(run.todo, opts) if opts.progress else 0, desc='predict', unit='image',
               disable=not opts.progress)
    todo, ahead = list(run.todo), {}
    # a reader thread decodes the next images while the networks run on this one (JPEG decoding and the
    # inference runtimes release the GIL)
    with JournalWriter(run.journal_path) as journal, bar, \
            ThreadPoolExecutor(1, thread_name_prefix='maskhub-reader') as reader:
        try:
            for i, item in enumerate(todo):
                for j in range(i, min(i + 1 + PREFETCH_IMAGES, len(todo))):
                    if j not in ahead and todo[j].kind != 'video':
                        ahead[j] = reader.submit(read_image, todo[j].path)
                entry = process_item(detector, item, opts, run.artifacts, progress=bar.update,
                                     preloaded=ahead.pop(i, None))
                journal.append(entry)
                run.entries[item.path] = entry
                done += 1
        except OSError as err:
            if is_out_of_space(err):
                raise out_of_space(run.out, done, err) from None
            raise
    return finish_run(run.out, run.entries, run.started, run_options(opts, detector.name, inputs, run.artifacts),
                      time.perf_counter() - t0, opts.formats)


def finish_run(out, entries, started, opts_dict, elapsed_s, formats=('csv', 'parquet')):
    """Rebuild every table and summary.json from the journal entries (``write_run_outputs``); a full disk
    is an ``OutputFullError`` (the journal is complete, rerunning with --resume only rewrites the tables)."""
    try:
        return write_run_outputs(out, entries, started, opts_dict, elapsed_s, formats)
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
