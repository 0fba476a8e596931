"""Datasets named on the command line (``--data SPEC``), for training and evaluation.

    voc:DIR                 Pascal VOC: DIR/annotations/*.xml and DIR/images/ (or a folder of such folders)
    wider:GT_FILE[:IMAGES]  WIDER FACE ground truth; images under IMAGES (default: GT_FILE's folder/images)
    yaml:FILE               a dataset file: ``train:`` and ``val:`` each a spec, a list of specs, or a
                            mapping of spec to repeat count; relative paths are relative to FILE's folder
    dev:NAME                the development layout under $MASKHUB_SHARED (default ../shared):
                            wider-train, wider-val, mask-train, mask-val

Every problem (missing folder, no annotation, missing images, unknown spec) is a ``DataError`` whose
message names the spec, what is missing, and how to give the data instead.
"""
from pathlib import Path

import yaml

from maskhub.errors import DataError

SPEC_HELP = 'voc:DIR | wider:GT_FILE[:IMAGES] | yaml:FILE | dev:{wider-train,wider-val,mask-train,mask-val}'
DEV_PRESETS = ('wider-train', 'wider-val', 'mask-train', 'mask-val')
# names used before specs existed (training configs' data: keys, evaluate --data): same presets
LEGACY_NAMES = {'wider-val': 'dev:wider-val', 'mask-val': 'dev:mask-val'}
CONFIG_SOURCES = {'wider': 'dev:wider-{split}', 'mask': 'dev:mask-{split}'}


def normalise_spec(spec, split=None):
    """Old names ('wider-val'; in configs 'wider' / 'mask' + split) -> their 'dev:' spec; others unchanged."""
    spec = str(spec)
    if spec in CONFIG_SOURCES and split:
        return CONFIG_SOURCES[spec].format(split=split)
    return LEGACY_NAMES.get(spec, spec)


def _voc_dirs(directory, spec):
    """A mask-set folder, or a folder of them (e.g. datasets/face_mask)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError('%s: folder %s not found' % (spec, directory))
    if (directory / 'annotations').is_dir():
        return [directory]
    subdirs = sorted(d for d in directory.iterdir() if (d / 'annotations').is_dir())
    if not subdirs:
        raise DataError('%s: no annotations/ folder in %s or its subfolders (a VOC folder holds '
                        'annotations/*.xml and images/)' % (spec, directory))
    return subdirs


def _in_split(sample, wanted):
    """Split files list 'source/id' keys (mask sets) or image paths relative to the images root (WIDER)."""
    from maskhub.data.splits import sample_key
    return bool({sample_key(sample), sample.image_id, Path(sample.path).name} & wanted)


def _read_split(split_file, spec):
    from maskhub.data.wider import read_split_file
    if not Path(split_file).is_file():
        raise DataError('%s: split file %s not found' % (spec, split_file))
    return read_split_file(split_file)


def _load_voc(location, spec, split_file):
    from maskhub.data.voc import read_voc_dir
    try:
        samples = [s for d in _voc_dirs(location, spec) for s in read_voc_dir(d)]
    except (ValueError, AttributeError, SyntaxError) as err:     # ET.ParseError is a SyntaxError
        raise DataError('%s: unreadable annotation: %s' % (spec, err)) from err
    if split_file:
        wanted = set(_read_split(split_file, spec))
        samples = [s for s in samples if _in_split(s, wanted)]
    return samples


def _load_wider(location, spec, split_file, images_root=None, check_images=True):
    from maskhub.data.wider import read_wider
    gt_file, _, images = location.partition(':')
    gt_file = Path(gt_file)
    if not gt_file.is_file():
        raise DataError('%s: ground-truth file %s not found' % (spec, gt_file))
    root = Path(images or images_root or gt_file.parent / 'images')
    if check_images and not root.is_dir():
        raise DataError('%s: images folder %s not found (give it as wider:GT_FILE:IMAGES)' % (spec, root))
    if split_file:
        _read_split(split_file, spec)
    try:
        return read_wider(gt_file, root, split_file)
    except (ValueError, IndexError) as err:
        raise DataError('%s: %s is not a WIDER FACE ground-truth file (%s)' % (spec, gt_file, err)) from err


def _load_dev(name, spec):
    from maskhub.data.splits import mask_samples, wider_samples
    if name not in DEV_PRESETS:
        raise DataError('%s: unknown preset; the development presets are %s' % (spec, ', '.join(DEV_PRESETS)))
    source, split = name.split('-')
    return (wider_samples if source == 'wider' else mask_samples)(split)


def read_dataset_file(path):
    """A ``yaml:`` dataset file -> {'train': [(spec, repeats)], 'val': [...]}, paths made absolute."""
    path = Path(path)
    if not path.is_file():
        raise DataError('yaml:%s: dataset file not found' % path)
    try:
        raw = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
    except yaml.YAMLError as err:
        raise DataError('yaml:%s: not valid YAML (%s)' % (path, str(err).splitlines()[0])) from err
    if not isinstance(raw, dict) or not set(raw) & {'train', 'val'}:
        raise DataError('yaml:%s: needs a train: and/or val: entry, each a data spec (%s)' % (path, SPEC_HELP))
    unknown = set(raw) - {'train', 'val'}
    if unknown:
        raise DataError('yaml:%s: unknown keys %s (allowed: train, val)' % (path, sorted(unknown)))
    return {part: [(_relative_to(s, path.parent), n) for s, n in weighted_specs(value)]
            for part, value in raw.items()}


def _relative_to(spec, base):
    kind, sep, location = spec.partition(':')
    if not sep or kind == 'dev' or not location:
        return spec
    parts = [p if Path(p).is_absolute() else str(base / p) for p in location.split(':')]
    return '%s:%s' % (kind, ':'.join(parts))


def weighted_specs(value):
    """A spec, a list of specs, or {spec: repeat count} -> [(spec, count)]."""
    if isinstance(value, (str, Path)):
        return [(str(value), 1)]
    if isinstance(value, dict):
        return [(str(k), int(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(str(v), 1) for v in value]
    raise DataError('data entry %r: give a spec, a list of specs or {spec: repeats} (%s)' % (value, SPEC_HELP))


def load_data(spec, part='val', split_file=None, images_root=None, check_images=True):
    """Samples of one data spec. ``part`` picks ``train`` or ``val`` of a ``yaml:`` file; ``split_file``
    keeps only the listed images (voc: and wider:). Raises DataError when there is nothing to use, or
    (``check_images``) when an annotated image file is missing."""
    spec = normalise_spec(spec)
    kind, sep, location = spec.partition(':')
    if not sep or not location:
        raise DataError('--data %r: expected %s' % (spec, SPEC_HELP))
    if split_file and kind in ('dev', 'yaml'):
        raise DataError('%s: --split applies to voc: and wider: data only' % spec)
    if kind == 'voc':
        samples = _load_voc(location, spec, split_file)
    elif kind == 'wider':
        samples = _load_wider(location, spec, split_file, images_root, check_images)
    elif kind == 'dev':
        samples = _load_dev(location, spec)
    elif kind == 'yaml':
        entries = read_dataset_file(location).get(part)
        if not entries:
            raise DataError('yaml:%s: no %s: entry' % (location, part))
        samples = [s for sub, count in entries for s in load_data(sub, part, check_images=check_images) * count]
    else:
        raise DataError('--data %r: unknown kind %r; expected %s' % (spec, kind, SPEC_HELP))
    if not samples:
        raise DataError('%s: no annotated images found' % spec)
    missing = [s.path for s in samples if not Path(s.path).is_file()] if check_images else []
    if missing:
        raise DataError('%s: %d of %d annotated images are missing, e.g. %s'
                        % (spec, len(missing), len(samples), missing[0]))
    return samples
