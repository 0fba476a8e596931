"""Overview figures and the small aggregated tables the charts draw (never the 50k raw rows)."""
import numpy as np
import pandas as pd

from maskhub.dashboard.frames import FACE_SIZE, RUN

LABEL_ORDER = ['MASK', 'NO MASK']
FACE_SIZE_BINS = [0, 16, 32, 64, 128, 256, 512, np.inf]


def _rate(mask, faces):
    return round(mask / faces, 4) if faces else None


def overview_metrics(faces, units, runs):
    """Images, faces, MASK / NO MASK, compliance rate, images with no face (None if unknown), errors.

    A run's journal counts every image and video frame, including those in which nothing was found;
    an uploaded predictions table only knows the images that have faces.
    """
    n_faces = len(faces)
    n_mask = int((faces['label'] == 'MASK').sum()) if n_faces else 0
    images, no_face = 0, None
    for run in runs:
        if run.items is not None:
            images += int(run.items['units'].sum())
            no_face = (no_face or 0) + int(run.items['units_without_face'].sum())
        else:
            images += int((units[RUN] == run.name).sum()) if len(units) else 0
    return {'images': images, 'faces': n_faces, 'mask': n_mask, 'no_mask': n_faces - n_mask,
            'compliance_rate': _rate(n_mask, n_faces), 'images_with_no_face': no_face,
            'errors': int(sum(len(r.errors) for r in runs if r.errors is not None))}


def compliance_by(faces, column):
    """faces, mask, no_mask, compliance_rate per value of ``column`` (e.g. folder, run, model)."""
    if not len(faces):
        return pd.DataFrame(columns=[column, 'faces', 'mask', 'no_mask', 'compliance_rate'])
    is_mask = (faces['label'] == 'MASK').fillna(False)
    table = faces[[column]].assign(mask=is_mask).groupby(column, dropna=False).agg(
        faces=('mask', 'size'), mask=('mask', 'sum')).reset_index()
    table['no_mask'] = table['faces'] - table['mask']
    table['compliance_rate'] = table['mask'] / table['faces']
    table[column] = table[column].astype('string').fillna('(none)')
    return table.sort_values('faces', ascending=False, kind='stable').reset_index(drop=True)


def short_folder_names(folders):
    """Folder paths as a chart labels them: without the parent they all share ('…/' marks the cut);
    a single folder keeps its last two parts."""
    parts = [str(f).replace('\\', '/').rstrip('/').split('/') for f in folders]
    if not parts:
        return []
    if len(parts) == 1:
        common = max(0, len(parts[0]) - 2)
    else:
        common = 0
        while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
            common += 1
    return [('…/' if common and any(p[:common]) else '') + '/'.join(p[common:]) for p in parts]


def compliance_over_time(faces, bin_s=1.0):
    """Video faces per (run, video, time bin): faces, mask, compliance_rate; empty without video rows."""
    video = faces[faces['timestamp_s'].notna()]
    if not len(video):
        return pd.DataFrame(columns=[RUN, 'path', 'time_s', 'faces', 'mask', 'compliance_rate'])
    binned = video[[RUN, 'path']].assign(time_s=np.floor(video['timestamp_s'] / bin_s) * bin_s,
                                         mask=(video['label'] == 'MASK').fillna(False))
    table = binned.groupby([RUN, 'path', 'time_s']).agg(faces=('mask', 'size'), mask=('mask', 'sum')).reset_index()
    table['compliance_rate'] = table['mask'] / table['faces']
    return table


def faces_per_image(units):
    """How many images have 0, 1, 2, ... faces."""
    if not len(units):
        return pd.DataFrame(columns=['faces', 'images'])
    counts = units['faces'].value_counts().sort_index()
    return pd.DataFrame({'faces': counts.index.astype(int), 'images': counts.to_numpy()})


def face_size_distribution(faces):
    """Face counts per label in size bins (longer side, pixels)."""
    labels = ['<16' if lo == 0 else ('%d+' % lo if np.isinf(hi) else '%d-%d' % (lo, hi - 1))
              for lo, hi in zip(FACE_SIZE_BINS[:-1], FACE_SIZE_BINS[1:])]
    sizes = pd.cut(faces[FACE_SIZE], FACE_SIZE_BINS, right=False, labels=labels)
    table = pd.crosstab(sizes, faces['label']).reindex(index=labels, columns=LABEL_ORDER, fill_value=0)
    table = table.rename_axis(index='size_px', columns=None).reset_index()
    return table.melt('size_px', var_name='label', value_name='faces')


def confidence_histogram(faces, bins=20):
    """Face counts per label in equal-width bins of classifier confidence."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for label in LABEL_ORDER:
        values = faces.loc[faces['label'] == label, 'confidence'].dropna().to_numpy()
        counts, _ = np.histogram(values, edges)
        rows += [{'label': label, 'confidence': round(float(lo), 4), 'confidence_end': round(float(hi), 4),
                  'faces': int(c)} for lo, hi, c in zip(edges[:-1], edges[1:], counts)]
    return pd.DataFrame(rows)
