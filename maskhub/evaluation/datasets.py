"""Evaluation sets from a data spec: 'voc:DIR', 'wider:GT_FILE', or the named validation splits
'mask-val' and 'wider-val' (the committed splits of the shared datasets)."""
from pathlib import Path

import numpy as np

from maskhub.data.splits import mask_samples, sample_key, wider_samples
from maskhub.data.voc import read_voc_dir
from maskhub.data.wider import read_split_file, read_wider

NAMED_SETS = {'mask-val': lambda: mask_samples('val'), 'wider-val': lambda: wider_samples('val')}


def _voc_dirs(directory):
    """A mask-set folder, or a folder of them (e.g. shared/datasets/face_mask)."""
    directory = Path(directory)
    if (directory / 'annotations').is_dir():
        return [directory]
    subdirs = sorted(d for d in directory.iterdir() if (d / 'annotations').is_dir())
    if not subdirs:
        raise FileNotFoundError('%s: no annotations/ folder in it or in its subfolders' % directory)
    return subdirs


def _in_split(sample, wanted):
    """Split files list 'source/id' keys (mask sets) or image paths relative to the images root (WIDER)."""
    return bool({sample_key(sample), sample.image_id, Path(sample.path).name} & wanted)


def load_samples(spec, split_file=None, images_root=None):
    if spec in NAMED_SETS:
        if split_file:
            raise ValueError('%s is already a split; --split applies to voc: and wider: data' % spec)
        return NAMED_SETS[spec]()
    kind, _, location = spec.partition(':')
    if kind == 'wider' and location:
        root = images_root or Path(location).parent / 'images'
        return read_wider(location, root, split_file)
    if kind == 'voc' and location:
        samples = [s for d in _voc_dirs(location) for s in read_voc_dir(d)]
        if split_file:
            wanted = set(read_split_file(split_file))
            samples = [s for s in samples if _in_split(s, wanted)]
        return samples
    raise ValueError("data must be 'voc:DIR', 'wider:GT_FILE', %s; got %r"
                     % (' or '.join(repr(n) for n in NAMED_SETS), spec))


def spread_subset(samples, max_images):
    """At most ``max_images`` samples spread evenly over the list (the lists are grouped by source or
    event, so the first N would be one event)."""
    if not max_images or max_images >= len(samples):
        return list(samples)
    picks = np.linspace(0, len(samples) - 1, max_images).round().astype(int)
    return [samples[i] for i in picks]
