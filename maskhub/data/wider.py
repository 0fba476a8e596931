"""WIDER FACE ground-truth txt reader.

Each face line is ``x y w h blur expression illumination invalid occlusion pose`` (pixels, then the
per-face attributes of the official readme). The reader keeps the attributes next to the boxes in
``Sample.extra['attributes']`` (name -> int64 array aligned with ``Sample.boxes``): evaluation breaks
recall down by them, training weights hard faces by them; boxes, labels and ignore flags are as before.
"""
import logging
from pathlib import Path

import numpy as np

from maskhub.data.samples import Sample

log = logging.getLogger(__name__)

# columns 4..9 of a face line, in file order
ATTRIBUTES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')
# what each value means (index = value in the file), as the WIDER FACE readme defines them
ATTRIBUTE_VALUES = {'blur': ('clear', 'normal', 'heavy'),
                    'expression': ('typical', 'exaggerate'),
                    'illumination': ('normal', 'extreme'),
                    'invalid': ('valid', 'invalid'),
                    'occlusion': ('none', 'partial', 'heavy'),
                    'pose': ('typical', 'atypical')}
COLUMNS = 4 + len(ATTRIBUTES)


def read_split_file(path):
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def _face_row(text, where):
    try:
        values = [int(float(v)) for v in text.split()]
    except ValueError:
        values = []
    if len(values) < 4:
        raise ValueError('%s: expected a face line "x y w h [blur expression illumination invalid occlusion pose]", '
                         'got %r' % (where, text.strip()))
    return values[:COLUMNS]


def _parse_blocks(lines, gt_file):
    """(image path relative to the images root, face rows) per image; rows are 4 or 10 ints."""
    i = 0
    while i < len(lines):
        rel_path = lines[i].strip()
        try:
            count = int(lines[i + 1])
        except (IndexError, ValueError):
            raise ValueError('%s: no face count after image line %r' % (gt_file, rel_path)) from None
        # an image without faces still has one all-zero face line
        rows = lines[i + 2:i + 2 + max(count, 1)]
        i += 2 + max(count, 1)
        yield rel_path, [_face_row(r, '%s (%s)' % (gt_file, rel_path)) for r in rows[:count]]


def _attributes(rows):
    """name -> int64 array over the faces, or None when any face line lacks the attribute columns."""
    if any(len(r) < COLUMNS for r in rows):
        return None
    table = np.asarray(rows, np.int64).reshape(-1, COLUMNS)[:, 4:]
    return {name: table[:, k].copy() for k, name in enumerate(ATTRIBUTES)}


def read_wider(gt_file, images_root, split_file=None):
    """Samples of the WIDER gt file, restricted to ``split_file`` (paths relative to images_root) if given.

    'invalid' faces become ignore=True; faces of zero width or height are dropped (they cover no pixels).
    Labels are None: WIDER has no mask annotation. ``extra['attributes']`` holds the per-face attributes
    (absent for an image whose face lines carry only ``x y w h``).
    """
    with open(gt_file, encoding='utf-8') as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    wanted = set(read_split_file(split_file)) if split_file else None
    samples, dropped = [], 0
    for rel_path, rows in _parse_blocks(lines, gt_file):
        if wanted is not None and rel_path not in wanted:
            continue
        xywh = np.asarray([r[:4] for r in rows], np.float32).reshape(-1, 4)
        attributes = _attributes(rows)
        nonempty = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
        dropped += int((~nonempty).sum())
        xywh = xywh[nonempty]
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        extra = {}
        if attributes is not None:
            extra['attributes'] = {name: values[nonempty] for name, values in attributes.items()}
        ignore = extra['attributes']['invalid'] > 0 if extra else np.zeros(len(boxes), bool)
        samples.append(Sample(path=str(Path(images_root) / rel_path), boxes=boxes, labels=[None] * len(boxes),
                              ignore=ignore, image_id=rel_path, source='wider', extra=extra))
    if wanted is not None and len(samples) != len(wanted):
        log.warning('%d of %d split images not in %s', len(wanted) - len(samples), len(wanted), gt_file)
    if dropped:
        log.info('dropped %d zero-size WIDER faces', dropped)
    return samples
