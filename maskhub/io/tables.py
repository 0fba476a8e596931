"""The per-face prediction table (pandas): columns, building, CSV + Parquet writing."""
from pathlib import Path

import pandas as pd

# the published table's columns first, then maskhub's additions
PREDICTION_COLUMNS = ['label', 'confidence', 'left', 'top', 'right', 'bottom', 'face_score', 'id', 'path',
                      'frame', 'timestamp_s', 'face_width', 'face_height', 'image_width', 'image_height', 'model']
DTYPES = {'label': 'string', 'confidence': 'float64', 'left': 'int64', 'top': 'int64', 'right': 'int64',
          'bottom': 'int64', 'face_score': 'float64', 'id': 'int64', 'path': 'string', 'frame': 'Int64',
          'timestamp_s': 'float64', 'face_width': 'int64', 'face_height': 'int64', 'image_width': 'int64',
          'image_height': 'int64', 'model': 'string'}
ERROR_COLUMNS = ['path', 'frame', 'error']
TABLE_FORMATS = ('csv', 'parquet', 'json')      # the run tables' file formats (predict --format)
# one row per input image (per sampled frame for videos): every input is accounted for, faces or not
IMAGE_COLUMNS = ['path', 'frame', 'status', 'faces', 'mask', 'no_mask', 'width', 'height', 'error']
IMAGE_DTYPES = {'path': 'string', 'frame': 'Int64', 'status': 'string', 'faces': 'Int64', 'mask': 'Int64',
                'no_mask': 'Int64', 'width': 'Int64', 'height': 'Int64', 'error': 'string'}
IMAGE_STATUSES = ('ok', 'no_face', 'error')


def empty_predictions():
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[c]) for c in PREDICTION_COLUMNS})


def rows_to_dataframe(rows):
    if not rows:
        return empty_predictions()
    df = pd.DataFrame(rows, columns=PREDICTION_COLUMNS)
    return df.astype({c: DTYPES[c] for c in PREDICTION_COLUMNS})


def results_to_dataframe(results):
    return rows_to_dataframe([row for r in results for row in r.rows()])


def write_predictions(df, out_dir):
    """Write predictions.csv and predictions.parquet; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out / 'predictions.csv', out / 'predictions.parquet'
    df.to_csv(csv_path, index=False)
    df.to_parquet(parquet_path, index=False)
    return csv_path, parquet_path


def images_to_dataframe(rows):
    df = pd.DataFrame(rows, columns=IMAGE_COLUMNS)
    return df.astype(IMAGE_DTYPES)


def write_images_table(df, out_dir):
    """Write images.csv and images.parquet (``IMAGE_COLUMNS``); returns their paths."""
    out = Path(out_dir)
    csv_path, parquet_path = out / 'images.csv', out / 'images.parquet'
    df.to_csv(csv_path, index=False)
    df.to_parquet(parquet_path, index=False)
    return csv_path, parquet_path


def read_predictions(path):
    """A predictions file (.csv or .parquet) or a run directory -> DataFrame with the standard dtypes."""
    path = Path(path)
    if path.is_dir():
        path = path / 'predictions.parquet' if (path / 'predictions.parquet').exists() else path / 'predictions.csv'
    df = pd.read_parquet(path) if path.suffix == '.parquet' else pd.read_csv(path)
    missing = [c for c in PREDICTION_COLUMNS[:9] if c not in df.columns]
    if missing:
        raise ValueError('%s is not a maskhub predictions table (missing columns: %s)' % (path, missing))
    for c in PREDICTION_COLUMNS:
        if c not in df.columns:
            df[c] = pd.Series([pd.NA] * len(df), dtype=DTYPES[c])
    return df[PREDICTION_COLUMNS].astype({c: DTYPES[c] for c in PREDICTION_COLUMNS})
