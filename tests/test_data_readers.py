import numpy as np
import pytest

from maskhub.data.paths import datasets_dir, mask_set_dirs, wider_paths
from maskhub.data.samples import LABELS

pytestmark = pytest.mark.skipif(not datasets_dir().exists(), reason='shared datasets not present (%s)' % datasets_dir())


def test_read_voc_dir_macwin():
    from maskhub.data.voc import read_voc_dir
    samples = read_voc_dir(mask_set_dirs()['macwin'])
    assert len(samples) == 492
    assert sum(len(s.boxes) for s in samples) == 1222
    s = samples[0]
    assert s.source == 'macwin' and s.path.endswith(s.image_id + '.jpg')
    assert set(l for s in samples for l in s.labels) <= set(LABELS)
    for s in samples:
        assert (s.boxes[:, 2] > s.boxes[:, 0]).all() and (s.boxes[:, 3] > s.boxes[:, 1]).all()
        assert (s.boxes[:, 2] <= s.width).all() and (s.boxes[:, 3] <= s.height).all()
        assert not s.ignore.any()


def test_read_wider_split_and_ignore():
    from maskhub.data.wider import read_wider
    p = wider_paths()
    train = read_wider(p['gt_file'], p['images_root'], p['train_split'])
    val = read_wider(p['gt_file'], p['images_root'], p['val_split'])
    assert len(train) == 761 and len(val) == 134
    assert not {s.image_id for s in train} & {s.image_id for s in val}
    everything = read_wider(p['gt_file'], p['images_root'])
    assert len(everything) == 895
    boxes = np.concatenate([s.boxes for s in everything])
    ignore = np.concatenate([s.ignore for s in everything])
    # README: 11200 faces, 11026 valid; zero-size faces are dropped by the reader
    assert len(boxes) <= 11200 and (~ignore).sum() <= 11026 and len(boxes) > 11100
    assert ignore.any()
    assert ((boxes[:, 2] - boxes[:, 0]) > 0).all() and ((boxes[:, 3] - boxes[:, 1]) > 0).all()
    assert all(l is None for s in everything for l in s.labels)
    # every face keeps its WIDER attributes; 'invalid' is the ignore flag
    for s in everything:
        assert set(s.extra['attributes']) == {'blur', 'expression', 'illumination', 'invalid', 'occlusion', 'pose'}
        assert all(len(v) == len(s.boxes) for v in s.extra['attributes'].values())
        np.testing.assert_array_equal(s.extra['attributes']['invalid'] > 0, s.ignore)
    pose = np.concatenate([s.extra['attributes']['pose'] for s in val])
    assert 0 < (pose == 1).sum() < (pose == 0).sum()


def test_zero_faces_block(tmp_path):
    from maskhub.data.wider import read_wider
    gt = tmp_path / 'gt.txt'
    gt.write_text('a/x.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \nb/y.jpg\n2\n1 2 3 4 0 0 0 0 0 0 \n5 6 0 4 0 0 0 1 0 0 \n')
    samples = read_wider(gt, tmp_path)
    assert [len(s.boxes) for s in samples] == [0, 1]
    np.testing.assert_array_equal(samples[1].boxes[0], [1, 2, 4, 6])


def test_wider_attributes_stay_aligned_with_the_kept_faces(tmp_path):
    from maskhub.data.wider import read_wider
    gt = tmp_path / 'gt.txt'
    # the zero-width second face is dropped: its attributes must go with it
    gt.write_text('a/x.jpg\n3\n1 2 3 4 2 0 1 0 1 0 \n5 6 0 4 1 1 1 0 2 1 \n7 8 9 9 0 0 0 1 2 1 \n'
                  'b/y.jpg\n1\n10 10 20 20\n')
    a, b = read_wider(gt, tmp_path)
    np.testing.assert_array_equal(a.boxes, [[1, 2, 4, 6], [7, 8, 16, 17]])
    attributes = a.extra['attributes']
    assert attributes['blur'].tolist() == [2, 0] and attributes['illumination'].tolist() == [1, 0]
    assert attributes['occlusion'].tolist() == [1, 2] and attributes['pose'].tolist() == [0, 1]
    assert a.ignore.tolist() == [False, True] and attributes['invalid'].tolist() == [0, 1]
    # face lines with only x y w h: boxes, no attributes, nothing ignored
    assert 'attributes' not in b.extra and b.ignore.tolist() == [False] and len(b.boxes) == 1


def test_wider_bad_face_line_names_the_image(tmp_path):
    from maskhub.data.wider import read_wider
    gt = tmp_path / 'gt.txt'
    gt.write_text('a/x.jpg\n1\n1 2 oops\n')
    with pytest.raises(ValueError, match='a/x.jpg'):
        read_wider(gt, tmp_path)


def test_mask_split_keeps_duplicates_together():
    from maskhub.data.splits import load_mask_split, read_duplicate_pairs
    train, val = set(load_mask_split('train')), set(load_mask_split('val'))
    assert not train & val
    assert len(train) + len(val) == 682 + 1716 + 492
    assert 0.13 < len(val) / (len(train) + len(val)) < 0.17
    pairs = read_duplicate_pairs(datasets_dir() / 'face_mask' / 'near_duplicate_pairs.tsv')
    assert len(pairs) == 266
    for a, b in pairs:
        assert (a in val) == (b in val), (a, b)


def test_make_split_is_deterministic_and_groups_components():
    from maskhub.data.splits import make_split
    keys = ['k%d' % i for i in range(100)]
    pairs = [('k1', 'k2'), ('k2', 'k3'), ('k50', 'k60')]
    a = make_split(keys, pairs, 0.2, seed=1)
    assert a == make_split(keys, pairs, 0.2, seed=1)
    train, val = a
    assert len(val) == 20
    for group in (('k1', 'k2', 'k3'), ('k50', 'k60')):
        assert len({g in val for g in group}) == 1
