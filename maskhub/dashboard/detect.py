"""Detection on uploaded files, written as an ordinary run folder by ``maskhub.batch.run``.

Uploads are kept in the run's ``inputs/`` so the run stays viewable after it is saved elsewhere.
"""
import datetime as dt
import re
import shutil
from pathlib import Path

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
    return target
