"""The run journal (``journal.jsonl``): one JSON line per finished item, the source of truth of a run folder.

Crash safety:

- each entry is written as one ``write`` of a complete line and fsync'ed, so a crash or a full disk can
  leave at most the *last* line incomplete;
- every reader (``read_journal``) reports the lines it cannot use (cut short, not JSON, not an entry)
  with their line numbers, and never silently drops them;
- before appending (``--resume``), ``repair_journal`` moves unusable lines into
  ``journal.quarantine.jsonl`` (with their line numbers and the reason) and rewrites the journal without
  them, so a new entry is never glued onto half a line; the items of quarantined lines are redone;
- a last line that is complete JSON but lost only its newline is kept (the newline is added).

``merge`` refuses journals with unusable lines (``JournalError``) instead of dropping their items.
"""
import errno
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
JOURNAL = 'journal.jsonl'
QUARANTINE = 'journal.quarantine.jsonl'


class JournalError(ValueError):
    pass


@dataclass
class BadLine:
    number: int          # 1-based line number in the journal
    reason: str
    text: str            # the raw line (decoded with replacement), for the quarantine file

    def describe(self):
        return 'line %d: %s' % (self.number, self.reason)


@dataclass
class JournalContents:
    path: Path
    entries: dict = field(default_factory=dict)     # item path -> entry (a later line wins)
    bad_lines: list = field(default_factory=list)   # BadLine
    missing_newline: bool = False                   # the last line is complete JSON but has no newline

    def problems(self):
        return '; '.join(b.describe() for b in self.bad_lines)


def _parse_line(raw):
    """-> (entry, None) or (None, reason)."""
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        return None, 'not UTF-8'
    try:
        entry = json.loads(text)
    except ValueError as err:
        return None, 'not valid JSON (%s)' % err.msg
    if not isinstance(entry, dict) or not isinstance(entry.get('path'), str):
        return None, 'not a journal entry (no "path")'
    return entry, None


def read_journal(path):
    """Every usable entry of the journal at ``path`` and every unusable line (reported, never hidden)."""
    path = Path(path)
    contents = JournalContents(path)
    if not path.exists():
        return contents
    data = path.read_bytes()
    lines = data.split(b'\n')
    last_complete = data.endswith(b'\n') or not data
    if last_complete:
        lines = lines[:-1]          # the empty piece after the final newline
    for number, raw in enumerate(lines, 1):
        is_tail = number == len(lines) and not last_complete
        if not raw.strip():
            if is_tail:
                contents.bad_lines.append(BadLine(number, 'blank partial last line', ''))
            continue
        entry, reason = _parse_line(raw)
        if entry is None:
            if is_tail:
                reason = 'last line cut short (no newline; %d bytes): %s' % (len(raw), reason)
            contents.bad_lines.append(BadLine(number, reason, raw.decode('utf-8', errors='replace')))
            continue
        if is_tail:
            contents.missing_newline = True
        contents.entries[entry['path']] = entry
    for bad in contents.bad_lines:
        log.warning('%s %s', path, bad.describe())
    return contents


def read_journal_strict(path):
    """Like ``read_journal`` but a journal with any unusable line is a ``JournalError``."""
    contents = read_journal(path)
    if contents.bad_lines:
        raise JournalError('%s has %d unreadable line(s) (%s): those items would be lost; run `maskhub predict '
                           '... --resume --out %s` to redo them first' % (
                               path, len(contents.bad_lines), contents.problems(), Path(path).parent))
    return contents


def _fsync_dir(folder):
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def repair_journal(path):
    """Make the journal safe to append to: quarantine unusable lines, end it with a newline.
    Returns the ``JournalContents`` read before the repair."""
    path = Path(path)
    contents = read_journal(path)
    if not contents.bad_lines and not contents.missing_newline:
        return contents
    if contents.bad_lines:
        with open(path.parent / QUARANTINE, 'a', encoding='utf-8') as q:
            for bad in contents.bad_lines:
                q.write(json.dumps({'journal_line': bad.number, 'reason': bad.reason, 'text': bad.text}) + '\n')
            q.flush()
            os.fsync(q.fileno())
        log.warning('%s: %d unusable line(s) moved to %s, their items will be redone (%s)', path,
                    len(contents.bad_lines), QUARANTINE, contents.problems())
    bad_numbers = {b.number for b in contents.bad_lines}
    kept = [raw for number, raw in enumerate(path.read_bytes().split(b'\n'), 1)
            if raw.strip() and number not in bad_numbers]
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'wb') as f:
        f.write(b''.join(raw + b'\n' for raw in kept))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return contents


class JournalWriter:
    """Appends entries, one complete line per ``write`` call, fsync'ed. When a write fails half-way
    (disk full), the partial bytes are cut off again so the journal stays valid, and the error is raised."""

    def __init__(self, path, sync=True):
        self.path = Path(path)
        self.sync = sync
        self._fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, entry):
        line = (json.dumps(entry) + '\n').encode('utf-8')
        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.sync:
                os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise

    def append_many(self, entries):
        """``append`` each entry (one complete line per write), then one fsync for all of them."""
        sync, self.sync = self.sync, False
        try:
            for entry in entries:
                self.append(entry)
        finally:
            self.sync = sync
        if sync:
            os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def is_out_of_space(err):
    return isinstance(err, OSError) and err.errno in NO_SPACE_ERRNOS
