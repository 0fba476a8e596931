"""Where the development data lives: env MASKHUB_SHARED, else <repo>/../shared.

Only the ``dev:`` data preset and the development tools read it; everything else takes its data as an
argument (``maskhub.data.sources``).
"""
import os
from pathlib import Path

from maskhub.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir():
    return Path(os.environ.get('MASKHUB_SHARED') or REPO_ROOT.parent / 'shared')


def datasets_dir():
    return shared_dir() / 'datasets'


def mask_set_dirs():
    """{'kaggle': Path, 'jol': Path, 'macwin': Path} of the Pascal VOC mask sets."""
    root = datasets_dir() / 'face_mask'
    return {name: root / name for name in ('kaggle', 'jol', 'macwin')}


def wider_paths():
    root = datasets_dir() / 'wider_face'
    return {'gt_file': root / 'train' / 'wider_face_train_bbx_gt.txt', 'images_root': root / 'train' / 'images',
            'train_split': root / 'splits' / 'train.txt', 'val_split': root / 'splits' / 'val.txt'}


def require_dev_data(paths, what):
    """Raise a DataError naming the first missing path of the development layout and the alternatives."""
    for path in paths:
        if not Path(path).exists():
            raise DataError('%s needs the development data, and %s is missing (set MASKHUB_SHARED to the folder '
                            'holding datasets/, or give your own: --data voc:DIR | wider:GT_FILE[:IMAGES] | '
                            'yaml:FILE)' % (what, path))
