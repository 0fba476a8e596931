"""The face table the views work on: every selected run's predictions plus a few derived columns."""
import posixpath

import pandas as pd

from maskhub.io.tables import PREDICTION_COLUMNS

# derived columns the views add to PREDICTION_COLUMNS
RUN, FOLDER, FACE_SIZE = 'run', 'folder', 'face_size'
UNIT_KEYS = [RUN, 'path', 'frame']      # one image, or one frame of a video


def folder_of(paths):
    return paths.astype('string').str.replace('\\', '/', regex=False).map(
        lambda p: posixpath.dirname(p) or '.', na_action='ignore').astype('string')


def with_derived_columns(predictions, run_name):
    df = predictions.copy()
    df.insert(0, RUN, pd.Series([run_name] * len(df), dtype='string', index=df.index))
    df[FOLDER] = folder_of(df['path'])
    # the longer side: what "small face" means for a detector's anchors
    df[FACE_SIZE] = df[['face_width', 'face_height']].max(axis=1).astype('int64')
    return df


def combine_runs(runs):
    """LoadedRuns -> one face table with ``run``, ``folder`` and ``face_size`` columns."""
    parts = [with_derived_columns(r.predictions, r.name) for r in runs]
    if not parts:
        return with_derived_columns(pd.DataFrame({c: [] for c in PREDICTION_COLUMNS}).astype(
            {'face_width': 'int64', 'face_height': 'int64', 'path': 'string'}), '')
    return pd.concat(parts, ignore_index=True)


def units_table(faces, runs):
    """One row per image / video frame: run, path, frame, timestamp_s, faces, no_mask.

    Images in which nothing was found have no face row; they come from the runs' journals.
    """
    if len(faces):
        flagged = faces[UNIT_KEYS + ['timestamp_s']].assign(no_mask=(faces['label'] == 'NO MASK').fillna(False))
        units = flagged.groupby(UNIT_KEYS, dropna=False, sort=False).agg(
            timestamp_s=('timestamp_s', 'first'), faces=('no_mask', 'size'), no_mask=('no_mask', 'sum')).reset_index()
    else:
        units = pd.DataFrame(columns=UNIT_KEYS + ['timestamp_s', 'faces', 'no_mask'])
    empty = []
    for run in runs:
        if run.items is None or not len(run.items):
            continue
        seen = set(faces.loc[faces[RUN] == run.name, 'path'].dropna()) if len(faces) else set()
        for item in run.items.itertuples():
            if item.kind != 'video' and not item.failed and item.units_without_face and item.path not in seen:
                empty.append({RUN: run.name, 'path': item.path, 'frame': pd.NA, 'timestamp_s': float('nan'),
                              'faces': 0, 'no_mask': 0})
    if empty:
        units = pd.concat([units, pd.DataFrame(empty)], ignore_index=True)
    units = units.astype({RUN: 'string', 'path': 'string', 'frame': 'Int64', 'timestamp_s': 'float64',
                          'faces': 'int64', 'no_mask': 'int64'})
    return units.sort_values(UNIT_KEYS, kind='stable', na_position='first').reset_index(drop=True)
