"""Detection on uploaded files, written as an ordinary run folder by ``maskhub.batch.run``.

Uploads are kept in the run's ``inputs/``. Saving copies the folder into the runs directory and points
the paths it recorded at the copy's ``inputs/``, so a saved run never refers to the session's
temporary folder.
"""
import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from maskhub.batch.inputs import IMAGE_EXTENSIONS
from maskhub.batch.run import RunOptions, run_batch
from maskhub.dashboard.media import INPUTS_DIR
from maskhub.io.video import VIDEO_EXTENSIONS

UPLOAD_TYPES = sorted(e.lstrip('.') for e in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
DEFAULT_VIDEO_FPS = 2.0
RUN_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$')


class DetectError(ValueError):
    """Something the user can fix: a bad file name, run name, or parameter."""


def _safe_filename(name):
    stem = re.sub(r'[^A-Za-z0-9._-]+', '_', Path(name).name).strip('._') or 'upload'
    return stem[-120:]


def write_uploads(uploads, dest):
    """``uploads``: (file name, bytes) pairs -> paths written under ``dest`` (names made unique)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in uploads:
        safe = _safe_filename(name)
        if Path(safe).suffix.lower().lstrip('.') not in UPLOAD_TYPES:
            raise DetectError('%s: not an image or video file (accepted: %s)' % (name, ', '.join(UPLOAD_TYPES)))
        target, n = dest / safe, 1
        while target.exists():
            target = dest / ('%s_%d%s' % (Path(safe).stem, n, Path(safe).suffix))
            n += 1
        target.write_bytes(data)
        paths.append(target)
    return paths


def new_run_dir(parent, prefix='detect'):
    """A new, empty folder ``parent/detect-YYYYmmdd-HHMMSS`` (suffixed -2, -3... when taken)."""
    base = '%s-%s' % (prefix, dt.datetime.now().strftime('%Y%m%d-%H%M%S'))
    Path(parent).mkdir(parents=True, exist_ok=True)
    path, n = Path(parent) / base, 2
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, n = Path(parent) / ('%s-%d' % (base, n)), n + 1


def detect_uploads(detector, uploads, run_dir, shrink=None, confs_threshold=None, video_fps=DEFAULT_VIDEO_FPS,
                   use_multi_scale=False):
    """Predict ``uploads`` into ``run_dir`` (a run folder like ``maskhub predict --out``); returns the summary."""
    if not uploads:
        raise DetectError('upload at least one image or video first')
    config = getattr(detector, 'config', None)      # defaults and valid ranges: the model config's
    if config is not None:
        try:
            config.options(shrink, confs_threshold)
        except ValueError as err:
            raise DetectError(str(err)) from None
    paths = write_uploads(uploads, Path(run_dir) / INPUTS_DIR)
    opts = RunOptions(shrink=shrink, confs_threshold=confs_threshold, use_multi_scale=use_multi_scale,
                      video_fps=video_fps, progress=False, extra={'source': 'dashboard upload'})
    return run_batch(detector, [str(p) for p in paths], run_dir, opts)


def save_run(run_dir, runs_dir, name):
    """Copy a detection run folder into ``runs_dir/name``; returns the new folder."""
    name = (name or '').strip()
    if not RUN_NAME.match(name):
        raise DetectError('run name %r: use letters, digits, ".", "_" or "-" (starting with a letter or digit)' % name)
    target = Path(runs_dir) / name
    if target.exists():
        raise DetectError('%s already exists: choose another name' % target)
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    shutil.copytree(run_dir, target)
    relocate_run(target, run_dir)
    return target


def _moved(value, old, new):
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + os.sep) else value
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    return value


def relocate_run(folder, old_dir):
    """Rewrite the paths a run folder copied from ``old_dir`` to ``folder`` recorded under ``old_dir``
    (its tables' ``path`` column, its journal and summary) to the same files under ``folder``."""
    folder = Path(folder)
    old, new = os.path.normpath(os.path.abspath(old_dir)), os.path.normpath(os.path.abspath(folder))
    for path in folder.glob('*.jsonl'):
        lines = []
        for line in path.read_text(encoding='utf-8').splitlines(keepends=True):
            try:
                lines.append(json.dumps(_moved(json.loads(line), old, new)) + '\n')
            except ValueError:
                lines.append(line)          # a line cut short stays as it was, for the readers to report
        path.write_text(''.join(lines), encoding='utf-8')
    for path in folder.glob('*.json'):
        try:
            data = json.loads(path.read_text(encoding='utf-8'))
        except ValueError:
            continue
        path.write_text(json.dumps(_moved(data, old, new), indent=2), encoding='utf-8')
    for path in list(folder.glob('*.csv')) + list(folder.glob('*.parquet')):
        if not path.stat().st_size:
            continue
        csv = path.suffix == '.csv'
        table = pd.read_csv(path, dtype=str, keep_default_na=False) if csv else pd.read_parquet(path)
        if 'path' not in table.columns:
            continue
        table['path'] = table['path'].map(lambda v: _moved(v, old, new), na_action='ignore').astype(table['path'].dtype)
        table.to_csv(path, index=False) if csv else table.to_parquet(path, index=False)
