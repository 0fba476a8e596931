"""Why a path cannot be read as an input file, and whether a folder can take a run's output.

``input_problem(path)`` names the real reason (symlink loop, broken symlink, directory, FIFO or
device, permission) instead of a blanket "file not found". ``check_output_dir(path)`` is run before
any model loads: a file in the way, a virtual file system (/proc, /sys, ...), a read-only or full
disk each give one ``OutputDirError`` line.
"""
import errno
import os
import stat
import uuid
from pathlib import Path

VIRTUAL_FILESYSTEMS = {'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'debugfs', 'tracefs',
                       'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl', 'mqueue', 'hugetlbfs', 'efivarfs'}
DEFAULT_MIN_FREE_MB = 1
PROBE_BYTES = 64 * 1024


def new_run_dir(command, base='runs'):
    """runs/<command>/<N> for the next unused N: a run without --out never lands in an earlier run's folder."""
    parent = Path(base) / command
    taken = [int(p.name) for p in parent.glob('*') if p.name.isdigit()] if parent.is_dir() else []
    return parent / str(max(taken, default=0) + 1)


def input_problem(path):
    """None when ``path`` is a readable regular file (or a symlink to one), else the reason it is not."""
    path = str(path)
    try:
        link = os.lstat(path)
    except FileNotFoundError:
        return 'file not found'
    except NotADirectoryError:
        return 'file not found (a parent of it is a file, not a folder)'
    except PermissionError:
        return 'permission denied (cannot look into its folder)'
    except OSError as err:
        return 'cannot access (%s)' % (err.strerror or err)
    try:
        st = os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return 'symlink loop'
        if err.errno == errno.ENOENT and stat.S_ISLNK(link.st_mode):
            return 'broken symlink (its target %s does not exist)' % os.readlink(path)
        return 'cannot access (%s)' % (err.strerror or err)
    if stat.S_ISDIR(st.st_mode):
        return 'is a directory, not an image file'
    if not stat.S_ISREG(st.st_mode):
        kind = 'FIFO' if stat.S_ISFIFO(st.st_mode) else 'socket' if stat.S_ISSOCK(st.st_mode) else 'device'
        return 'not a regular file (%s)' % kind
    if not os.access(path, os.R_OK):
        return 'permission denied'
    return None


class OutputDirError(ValueError):
    pass


def _mount_of(path):
    """(mount point, fs type) holding ``path`` (resolved), from /proc/self/mounts; (None, None) if unknown."""
    try:
        lines = Path('/proc/self/mounts').read_text().splitlines()
    except OSError:
        return None, None
    best = (None, None)
    target = str(path)
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1].replace('\\040', ' ')
        inside = target == mount_point or target.startswith(mount_point.rstrip('/') + '/')
        if inside and (best[0] is None or len(mount_point) > len(best[0])):
            best = (mount_point, parts[2])
    return best


def _existing_ancestor(path):
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _why(err):
    if err.errno in (errno.EROFS,):
        return 'read-only file system'
    if err.errno in (errno.EACCES, errno.EPERM):
        return 'permission denied'
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return 'no space left on the device'
    return err.strerror or str(err)


def check_output_dir(path, min_free_mb=DEFAULT_MIN_FREE_MB, create=True):
    """Make sure ``path`` is (or can become) a writable folder with room in it; else ``OutputDirError``
    with one line naming the folder and the reason. Creates the folder when ``create``."""
    label = str(path)
    out = Path(os.path.abspath(path))
    if out.exists() and not out.is_dir():
        raise OutputDirError('--out %s: is a file, not a folder' % label)
    resolved = Path(os.path.realpath(_existing_ancestor(out))) / out.relative_to(_existing_ancestor(out))
    mount_point, fs_type = _mount_of(resolved)
    if fs_type in VIRTUAL_FILESYSTEMS:
        raise OutputDirError('--out %s: is on %s (a %s virtual file system), not a place for files'
                             % (label, mount_point, fs_type))
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputDirError('--out %s: a parent of it is a file, not a folder' % label) from None
        except NotADirectoryError:
            raise OutputDirError('--out %s: a parent of it is a file, not a folder' % label) from None
        except OSError as err:
            raise OutputDirError('--out %s: cannot create the folder (%s)' % (label, _why(err))) from None
    elif not out.is_dir():
        raise OutputDirError('--out %s: folder does not exist' % label)
    # a real write, so read-only mounts, permissions (also for root, e.g. read-only bind mounts) and a
    # full disk all show here, before any model is loaded
    probe = out / ('.maskhub-write-probe-%s' % uuid.uuid4().hex[:8])
    try:
        fd = os.open(str(probe), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b'\0' * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise OutputDirError('--out %s: cannot write there (%s)' % (label, _why(err))) from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass
    vfs = os.statvfs(str(out))
    free_mb = vfs.f_bavail * vfs.f_frsize / (1 << 20)
    if free_mb < min_free_mb:
        raise OutputDirError('--out %s: only %.1f MB free on its disk (need at least %d MB)'
                             % (label, free_mb, min_free_mb))
    return out

