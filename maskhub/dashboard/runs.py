"""Finding and loading prediction runs (the folders ``maskhub predict`` writes), with clear errors.

A run loads from ``predictions.parquet`` (else ``predictions.csv``); a run folder whose table is
missing or unreadable but that has ``journal.jsonl`` (an interrupted run) is rebuilt from the
journal, with a warning. Anything else raises ``RunError`` with a message meant for the user.
"""
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from maskhub.batch.journal import JOURNAL, read_journal
from maskhub.batch.outputs import summarize
from maskhub.io.tables import ERROR_COLUMNS, read_predictions, rows_to_dataframe

PREDICTION_FILES = ('predictions.parquet', 'predictions.csv')
RUN_MARKERS = PREDICTION_FILES + ('summary.json', JOURNAL)
ITEM_COLUMNS = ['path', 'kind', 'units', 'units_without_face', 'failed']


class RunError(ValueError):
    """A run folder or predictions file that cannot be shown; the message says why."""


@dataclass
class LoadedRun:
    name: str
    predictions: pd.DataFrame
    summary: dict = field(default_factory=dict)
    errors: pd.DataFrame = None
    # one row per input item (from the journal); None when only a predictions table is known
    items: pd.DataFrame = None
    run_dir: Path = None
    warnings: list = field(default_factory=list)


def runs_dir_from_env(default='runs'):
    return Path(os.environ.get('MASKHUB_RUNS_DIR') or default)


def looks_like_run(folder):
    return any((Path(folder) / m).exists() for m in RUN_MARKERS)


def list_runs(runs_dir):
    """Run folders directly inside ``runs_dir`` (or ``runs_dir`` itself), newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith('.') and looks_like_run(p)]
    if looks_like_run(root):
        found.append(root)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def run_signature(folder):
    """Changes whenever a run's files change: a cache key."""
    folder = Path(folder)
    return tuple((m, (folder / m).stat().st_mtime_ns, (folder / m).stat().st_size)
                 for m in RUN_MARKERS if (folder / m).exists())


def _items_from_journal(entries):
    rows = [{'path': e['path'], 'kind': e.get('kind', 'image'), 'units': int(e.get('units', 0)),
             'units_without_face': int(e.get('units_without_face', 0)), 'failed': bool(e.get('failed'))}
            for e in entries]
    return pd.DataFrame(rows, columns=ITEM_COLUMNS)


def _read_table(folder, warnings):
    """The run's predictions table, trying Parquet then CSV; None if neither can be read."""
    problems, wrong_columns = [], None
    for name in PREDICTION_FILES:
        path = folder / name
        if not path.exists():
            continue
        try:
            table = read_predictions(path)
            warnings.extend(problems)
            return table
        except Exception as err:        # truncated parquet, broken csv, wrong columns: try the other copy
            if 'not a maskhub predictions table' in str(err):
                wrong_columns = str(err)
            problems.append('%s is unreadable (%s)' % (name, type(err).__name__))
    if wrong_columns:
        raise RunError(wrong_columns)
    warnings.extend(problems)
    return None


def _read_summary(folder, warnings):
    path = folder / 'summary.json'
    if not path.exists():
        warnings.append('summary.json is missing: figures are computed from the predictions table')
        return {}
    try:
        summary = json.loads(path.read_text(encoding='utf-8'))
        if not isinstance(summary, dict):
            raise ValueError('not an object')
        return summary
    except ValueError as err:
        warnings.append('summary.json is unreadable (%s): figures are computed from the predictions table' % err)
        return {}


def _read_errors(folder):
    path = folder / 'errors.csv'
    try:
        return pd.read_csv(path) if path.exists() and path.stat().st_size else pd.DataFrame(columns=ERROR_COLUMNS)
    except Exception:
        return pd.DataFrame(columns=ERROR_COLUMNS)


def load_run(folder, name=None):
    """A run folder -> LoadedRun; RunError with a readable reason if it cannot be shown."""
    folder = Path(folder)
    name = name or folder.name
    if not folder.exists():
        raise RunError('run folder %s does not exist' % folder)
    if folder.is_file():
        return load_predictions_file(folder.name, folder.read_bytes())
    if not looks_like_run(folder):
        raise RunError('%s is not a maskhub run folder: it has none of %s (make one with '
                       '`maskhub predict INPUTS --out %s`)' % (folder, ', '.join(RUN_MARKERS), folder))
    warnings = []
    entries = None
    if (folder / JOURNAL).exists():
        journal = read_journal(folder / JOURNAL)
        entries = list(journal.entries.values())
        if journal.bad_lines:
            warnings.append('%s has %d unreadable line(s) (%s): those items are not shown; `maskhub predict ... '
                            '--resume` redoes them' % (JOURNAL, len(journal.bad_lines), journal.problems()))
    predictions = _read_table(folder, warnings)
    if predictions is None:
        if not entries:
            raise RunError('%s has no readable predictions table and no journal to rebuild it from: the run '
                           'did not finish; run `maskhub predict ... --out %s --resume` to complete it'
                           % (folder, folder))
        predictions = rows_to_dataframe([row for e in entries for row in e.get('rows', [])])
        warnings.append('no finished predictions table: showing the %d items recorded so far in %s '
                        '(an interrupted run; `maskhub predict ... --resume` completes it)' % (len(entries), JOURNAL))
    summary = _read_summary(folder, warnings)
    errors = _read_errors(folder)
    items = _items_from_journal(entries) if entries else None
    if not summary:
        summary = summarize(predictions, len(items) if items is not None else 0, errors.to_dict('records'), 0.0)
    return LoadedRun(name, predictions, summary, errors, items, folder, warnings)


def load_predictions_file(filename, data):
    """An uploaded predictions table (.csv or .parquet bytes) -> LoadedRun without items or media folder."""
    suffix = Path(filename).suffix.lower()
    if suffix not in ('.csv', '.parquet'):
        raise RunError('%s: upload a predictions .csv or .parquet file (from a maskhub run folder)' % filename)
    if not data:
        raise RunError('%s is empty' % filename)
    try:
        raw = pd.read_parquet(io.BytesIO(data)) if suffix == '.parquet' else pd.read_csv(io.BytesIO(data))
    except Exception as err:
        raise RunError('%s could not be read as %s (%s)' % (filename, suffix[1:].upper(), type(err).__name__)) from None
    predictions = _normalise(raw, filename)
    return LoadedRun(Path(filename).stem, predictions, summarize(predictions, 0, [], 0.0),
                     pd.DataFrame(columns=ERROR_COLUMNS), None, None, [])


def _normalise(raw, filename):
    """Standard columns and dtypes, by going through ``read_predictions`` on a parquet copy."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(filename).stem + '.parquet')
        try:
            raw.to_parquet(path, index=False)
            return read_predictions(path)
        except Exception as err:
            reason = str(err).replace(str(path), filename) if isinstance(err, ValueError) else \
                'its columns do not have the predictions types (%s: %s)' % (type(err).__name__, err)
            raise RunError('%s: %s' % (filename, reason) if filename not in reason else reason) from None
