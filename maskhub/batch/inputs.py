"""Turning command-line inputs (files, folders, globs, list files, videos) into work items."""
import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from maskhub.io.paths import input_problem
from maskhub.io.video import VIDEO_EXTENSIONS

IMAGE_EXTENSIONS = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp'}
LIST_EXTENSIONS = {'.txt', '.lst'}


@dataclass(frozen=True)
class WorkItem:
    path: str
    kind: str   # 'image' or 'video'


@dataclass(frozen=True)
class InputError:
    path: str
    error: str


def _kind(path):
    ext = Path(path).suffix.lower()
    return 'video' if ext in VIDEO_EXTENSIONS else 'image'


MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def _is_media_name(name):
    return Path(name).suffix.lower() in MEDIA_EXTENSIONS


def _media_in_dir(folder, errors):
    """Media files under ``folder`` (recursive, symlinked folders not followed). Entries named like media
    that are not files (a folder called x.jpg with nothing inside, a symlink loop, a broken link)
    go to ``errors`` with their reason instead of vanishing."""
    def walk_error(err):
        errors.append(InputError(err.filename or folder, 'cannot list folder (%s)' % (err.strerror or err)))

    for root, dirs, files in os.walk(folder, onerror=walk_error):
        dirs.sort()
        for name in sorted(dirs):
            sub = os.path.join(root, name)
            if _is_media_name(name) and (os.path.islink(sub) or not any(True for _ in _media_in_dir(sub, []))):
                errors.append(InputError(sub, input_problem(sub) or 'is a directory, not an image file'))
        for name in sorted(files):
            if _is_media_name(name):
                yield os.path.join(root, name)


def _read_list(list_file):
    base = Path(list_file).parent
    for line in Path(list_file).read_text(encoding='utf-8', errors='replace').splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            yield line if os.path.isabs(line) or os.path.exists(line) else str(base / line)


def expand_inputs(inputs):
    """-> (sorted unique WorkItems, InputErrors for inputs that name nothing usable)."""
    paths, errors = [], []

    def add(p, from_list=False):
        if os.path.isdir(p):
            found = list(_media_in_dir(p, errors))
            if not found:
                errors.append(InputError(p, 'is a directory, not an image file' if _is_media_name(p)
                                         else 'folder contains no image or video'))
            paths.extend(found)
        elif os.path.isfile(p):
            if not from_list and Path(p).suffix.lower() in LIST_EXTENSIONS:
                for entry in _read_list(p):
                    add(entry, from_list=True)
            else:
                paths.append(p)
        elif any(ch in p for ch in '*?['):
            matches = sorted(glob.glob(p, recursive=True))
            if not matches:
                errors.append(InputError(p, 'pattern matches no file'))
            for m in matches:
                add(m, from_list)
        else:
            errors.append(InputError(p, input_problem(p) or 'file not found'))

    for p in inputs:
        add(str(p))
    unique = sorted({os.path.normpath(p) for p in paths})
    return [WorkItem(p, _kind(p)) for p in unique], errors


def shard_of(path, num_shards):
    """Stable shard index of a path (md5 of its normalised form): the same on every machine and run."""
    digest = hashlib.md5(os.path.normpath(path).encode('utf-8')).hexdigest()
    return int(digest[:8], 16) % num_shards


def select_shard(items, num_shards=1, shard_index=0):
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError('need 0 <= shard_index < num_shards, got %d / %d' % (shard_index, num_shards))
    return [it for it in items if num_shards == 1 or shard_of(it.path, num_shards) == shard_index]
