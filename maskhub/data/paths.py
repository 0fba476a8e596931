"""Where the shared data lives: env MASKHUB_SHARED, else <repo>/../shared."""
import os
from pathlib import Path

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
