"""Comparing two runs face by face: faces of the same image / frame are matched greedily by IoU."""
import posixpath

import numpy as np
import pandas as pd

from maskhub.inference.postprocess import iou_one_to_many

BOX = ['left', 'top', 'right', 'bottom']
PAIR_COLUMNS = ['image', 'frame', 'status', 'iou', 'label_a', 'label_b', 'confidence_a', 'confidence_b',
                'row_a', 'row_b', 'disagree']
MATCHED, ONLY_A, ONLY_B = 'matched', 'only A', 'only B'


def image_keys(paths, by):
    """How images are recognised across runs: the full path, or the file name when the runs were made
    from different folders (or machines)."""
    paths = paths.astype('string')
    if by == 'path':
        return paths
    return paths.str.replace('\\', '/', regex=False).map(posixpath.basename, na_action='ignore').astype('string')


def choose_key(faces_a, faces_b):
    """'path' when the runs share image paths, else 'name' when they share file names."""
    if set(faces_a['path'].dropna()) & set(faces_b['path'].dropna()):
        return 'path'
    return 'name'


def greedy_match(boxes_a, boxes_b, iou_threshold):
    """Pairs (i, j, iou) with IoU >= threshold, best first, each box used once."""
    if not len(boxes_a) or not len(boxes_b):
        return []
    if len(boxes_a) <= len(boxes_b):      # one call per box of the smaller side
        ious = np.stack([iou_one_to_many(box, boxes_b) for box in boxes_a])
    else:
        ious = np.stack([iou_one_to_many(box, boxes_a) for box in boxes_b]).T
    ia, ib = np.nonzero(ious >= iou_threshold)
    order = np.argsort(-ious[ia, ib], kind='stable')
    used_a, used_b, pairs = set(), set(), []
    for k in order:
        i, j = int(ia[k]), int(ib[k])
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j, float(ious[i, j])))
    return pairs


class _Faces:
    """Column arrays of one run's faces, and the positions of each image / frame's faces."""

    def __init__(self, faces, by):
        self.index = faces.index.to_numpy()
        self.boxes = faces[BOX].to_numpy(np.float64)
        self.labels = faces['label'].astype(object).to_numpy()
        self.confidences = faces['confidence'].to_numpy(np.float64)
        keys = pd.DataFrame({'image': image_keys(faces['path'], by).to_numpy(),
                             'frame': faces['frame'].astype('Int64').fillna(-1).to_numpy(np.int64)})
        self.groups = keys.groupby(['image', 'frame'], sort=False).indices if len(keys) else {}


def compare_faces(faces_a, faces_b, iou_threshold=0.5, by=None):
    """One row per matched pair or unmatched face: image, frame, status, iou, labels, confidences,
    ``row_a`` / ``row_b`` (index labels into the inputs), ``disagree`` (matched with different labels)."""
    by = by or choose_key(faces_a, faces_b)
    a, b = _Faces(faces_a, by), _Faces(faces_b, by)
    none = np.zeros(0, np.int64)
    rows = []
    for key in list(a.groups) + [k for k in b.groups if k not in a.groups]:
        pa, pb = a.groups.get(key, none), b.groups.get(key, none)
        image, frame = key[0], (None if key[1] == -1 else int(key[1]))
        pairs = greedy_match(a.boxes[pa], b.boxes[pb], iou_threshold)
        for i, j, iou in pairs:
            ia, ib = pa[i], pb[j]
            rows.append((image, frame, MATCHED, iou, a.labels[ia], b.labels[ib], a.confidences[ia],
                         b.confidences[ib], a.index[ia], b.index[ib]))
        matched_a, matched_b = {p[0] for p in pairs}, {p[1] for p in pairs}
        rows += [(image, frame, ONLY_A, None, a.labels[ia], None, a.confidences[ia], None, a.index[ia], None)
                 for i, ia in enumerate(pa) if i not in matched_a]
        rows += [(image, frame, ONLY_B, None, None, b.labels[ib], None, b.confidences[ib], None, b.index[ib])
                 for j, ib in enumerate(pb) if j not in matched_b]
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS[:-1])
    table = table.astype({'frame': 'Int64', 'iou': 'float64', 'confidence_a': 'float64',
                          'confidence_b': 'float64', 'row_a': 'Int64', 'row_b': 'Int64'})
    table['disagree'] = (table['status'] == MATCHED) & (table['label_a'] != table['label_b'])
    table.attrs['by'] = by
    return table


def comparison_summary(pairs, faces_a, faces_b):
    """Headline numbers of a comparison."""
    status = pairs['status']
    return {'faces_a': len(faces_a), 'faces_b': len(faces_b), 'matched': int((status == MATCHED).sum()),
            'only_a': int((status == ONLY_A).sum()), 'only_b': int((status == ONLY_B).sum()),
            'label_disagreements': int(pairs['disagree'].sum()),
            'mean_iou': round(float(pairs['iou'].mean()), 4) if (status == MATCHED).any() else None}


def per_image(pairs):
    """One row per image / frame: matched, only A, only B, disagreements; most differences first."""
    if not len(pairs):
        return pd.DataFrame(columns=['image', 'frame', MATCHED, ONLY_A, ONLY_B, 'disagreements', 'differences'])
    counts = pd.crosstab([pairs['image'], pairs['frame'].fillna(-1)], pairs['status'])
    counts = counts.reindex(columns=[MATCHED, ONLY_A, ONLY_B], fill_value=0)
    disagreements = pairs.assign(_frame=pairs['frame'].fillna(-1)).groupby(['image', '_frame'])['disagree'].sum()
    counts['disagreements'] = disagreements.reindex(counts.index).fillna(0).astype(int).to_numpy()
    counts['differences'] = counts[ONLY_A] + counts[ONLY_B] + counts['disagreements']
    table = counts.rename_axis(index=['image', 'frame'], columns=None).reset_index()
    table['frame'] = table['frame'].astype('Int64').mask(table['frame'] == -1)
    return table.sort_values(['differences', 'image'], ascending=[False, True], kind='stable').reset_index(drop=True)


# ---- which runs are comparable ---------------------------------------------------------------------------

def input_paths(run):
    """The images / videos a run was made from: its journal's items (images without a face included),
    else, for a bare predictions table, the paths in it."""
    paths = run.items['path'] if run.items is not None and len(run.items) else run.predictions['path']
    return frozenset(pd.Series(paths, dtype='string').dropna())


def input_overlap(paths_a, paths_b):
    """How two runs' inputs relate: {'by', 'both', 'only_a', 'only_b', 'same'}; by path, or by file name
    when the runs share no path (the same images in another folder or on another machine)."""
    by = 'path' if paths_a & paths_b else 'name'
    keys_a = set(image_keys(pd.Series(sorted(paths_a), dtype='string'), by).dropna())
    keys_b = set(image_keys(pd.Series(sorted(paths_b), dtype='string'), by).dropna())
    both = keys_a & keys_b
    return {'by': by, 'both': len(both), 'only_a': len(keys_a - both), 'only_b': len(keys_b - both),
            'same': bool(both) and keys_a == keys_b, 'shared_keys': frozenset(both)}


def default_pair(inputs):
    """``inputs``: input path sets in order of preference -> (i, j): the first two with the same inputs,
    else the two sharing the most images, else the first two."""
    best, best_shared = (0, 1), -1
    for i in range(len(inputs)):
        for j in range(i + 1, len(inputs)):
            overlap = input_overlap(inputs[i], inputs[j])
            if overlap['same']:
                return i, j
            if overlap['both'] > best_shared:
                best, best_shared = (i, j), overlap['both']
    return best


def only_images(faces, keys, by):
    """The faces of the images (keys as ``image_keys`` makes them) in ``keys``."""
    return faces[image_keys(faces['path'], by).isin(keys).fillna(False).to_numpy(bool)]
