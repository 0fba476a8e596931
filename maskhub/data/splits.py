"""Fixed train/val split of the three mask sets, keeping near-duplicate pairs on one side.

The split is computed once (``python -m maskhub.data.splits``) and committed under ``splits/`` so that
every training and evaluation run sees the same images. Keys are ``source/id``.
"""
import random
from pathlib import Path

from maskhub.data.paths import datasets_dir, mask_set_dirs, require_dev_data, wider_paths
from maskhub.data.voc import read_voc_dir
from maskhub.data.wider import read_wider

SPLIT_DIR = Path(__file__).parent / 'splits'
VAL_FRACTION = 0.15
SEED = 42


def sample_key(sample):
    return '%s/%s' % (sample.source, sample.image_id)


def tsv_path_key(path):
    """'kaggle/images/maksssksksss11.jpg' -> 'kaggle/maksssksksss11'."""
    parts = Path(path).parts
    return '%s/%s' % (parts[0], Path(parts[-1]).stem)


def read_duplicate_pairs(tsv_path):
    with open(tsv_path, encoding='utf-8') as f:
        rows = [line.rstrip('\n').split('\t') for line in f][1:]
    return [(tsv_path_key(a), tsv_path_key(b)) for a, b, *_ in rows if a and b]


class UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def duplicate_groups(keys, pairs):
    """Connected components of ``keys`` under ``pairs``, as sorted lists, in a deterministic order."""
    uf = UnionFind()
    for k in keys:
        uf.find(k)
    for a, b in pairs:
        uf.union(a, b)
    groups = {}
    for k in sorted(keys):
        groups.setdefault(uf.find(k), []).append(k)
    return sorted(groups.values())


def make_split(keys, pairs, val_fraction=VAL_FRACTION, seed=SEED):
    """(train keys, val keys): whole duplicate groups go to val in a seeded order until the fraction is met."""
    groups = duplicate_groups(keys, pairs)
    random.Random(seed).shuffle(groups)
    target = round(val_fraction * len(keys))
    train, val = [], []
    for group in groups:
        (val if len(val) + len(group) <= target else train).extend(group)
    return sorted(train), sorted(val)


def write_mask_split(out_dir=SPLIT_DIR):
    require_dev_data(mask_set_dirs().values(), 'the mask split')
    keys = [sample_key(s) for d in mask_set_dirs().values() for s in read_voc_dir(d)]
    pairs = read_duplicate_pairs(datasets_dir() / 'face_mask' / 'near_duplicate_pairs.tsv')
    train, val = make_split(keys, pairs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (('train', train), ('val', val)):
        (out_dir / ('mask_%s.txt' % name)).write_text(''.join(k + '\n' for k in part), encoding='utf-8')
    return train, val


def load_mask_split(split):
    """Keys ('source/id') of the committed mask-set split 'train' or 'val'."""
    with open(SPLIT_DIR / ('mask_%s.txt' % split), encoding='utf-8') as f:
        return [line.strip() for line in f if line.strip()]


def mask_samples(split):
    require_dev_data(mask_set_dirs().values(), 'dev:mask-%s' % split)
    keys = set(load_mask_split(split))
    return [s for d in mask_set_dirs().values() for s in read_voc_dir(d) if sample_key(s) in keys]


def wider_samples(split):
    p = wider_paths()
    require_dev_data([p['gt_file'], p['images_root'], p['%s_split' % split]], 'dev:wider-%s' % split)
    return read_wider(p['gt_file'], p['images_root'], p['%s_split' % split])


def _run(args):
    tr, va = write_mask_split()
    print('train %d, val %d' % (len(tr), len(va)))
    return 0


def main(argv=None):
    from maskhub.cli import standalone
    return standalone('python -m maskhub.data.splits', 'rewrite maskhub/data/splits/mask_{train,val}.txt from the '
                      'development data', lambda parser: None, _run, argv)


if __name__ == '__main__':
    raise SystemExit(main())
