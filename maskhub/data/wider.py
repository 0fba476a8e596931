"""WIDER FACE ground-truth txt reader."""
import logging
from pathlib import Path

import numpy as np

from maskhub.data.samples import Sample

log = logging.getLogger(__name__)

# the integer attributes after each box of the gt txt, in file order
ATTRIBUTES = ('blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose')


def read_split_file(path):
    with open(path, encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def _parse_blocks(lines):
    i = 0
    while i < len(lines):
        rel_path, count = lines[i].strip(), int(lines[i + 1])
        # an image without faces still has one all-zero face line
        rows = lines[i + 2:i + 2 + max(count, 1)]
        i += 2 + max(count, 1)
        yield rel_path, [list(map(int, r.split()[:10])) for r in rows[:count]]


def read_wider(gt_file, images_root, split_file=None):
    """Samples of the WIDER gt file, restricted to ``split_file`` (paths relative to images_root) if given.

    'invalid' faces become ignore=True; faces of zero width or height are dropped (they cover no pixels).
    Labels are None: WIDER has no mask annotation. ``extra['attributes']`` maps each name of ``ATTRIBUTES``
    to an int array with one value per kept face.
    """
    with open(gt_file, encoding='utf-8') as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    wanted = set(read_split_file(split_file)) if split_file else None
    samples, dropped = [], 0
    for rel_path, faces in _parse_blocks(lines):
        if wanted is not None and rel_path not in wanted:
            continue
        faces = np.asarray(faces, np.float32).reshape(-1, 10)
        nonempty = (faces[:, 2] > 0) & (faces[:, 3] > 0)
        dropped += int((~nonempty).sum())
        faces = faces[nonempty]
        boxes = np.stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], axis=1)
        samples.append(Sample(path=str(Path(images_root) / rel_path), boxes=boxes, labels=[None] * len(boxes),
                              ignore=faces[:, 7] > 0, image_id=rel_path, source='wider',
                              extra={'attributes': {name: faces[:, 4 + k].astype(np.int64)
                                                    for k, name in enumerate(ATTRIBUTES)}}))
    if wanted is not None and len(samples) != len(wanted):
        log.warning('%d of %d split images not in %s', len(wanted) - len(samples), len(wanted), gt_file)
    if dropped:
        log.info('dropped %d zero-size WIDER faces', dropped)
    return samples
