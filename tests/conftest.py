import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / 'tests' / 'data'
SHARED = Path(os.environ.get('MASKHUB_SHARED', REPO.parent / 'shared'))
SHARED_REFERENCE = SHARED / 'official_pyramidbox_lite' / 'reference'


def reference_dir():
    """The official reference package: all 12 cases from shared/, else the Kaggle subset in tests/data."""
    return SHARED_REFERENCE if SHARED_REFERENCE.exists() else TEST_DATA / 'reference'


@pytest.fixture(scope='session')
def mobile_detector():
    from maskhub import MaskDetector
    return MaskDetector('mobile', threads=2)


@pytest.fixture(scope='session')
def example_images():
    return sorted((REPO / 'examples' / 'images').glob('*.jpg'))


@pytest.fixture
def shared_dir():
    if not SHARED.exists():
        pytest.skip('shared/ data folder not present at %s' % SHARED)
    return SHARED


def real_images(example_images, count):
    """``count`` real photos: examples/images, else the Kaggle reference images in tests/data; skip if too few."""
    images = list(example_images) or sorted(TEST_DATA.rglob('*.jpg'))
    if len(images) < count:
        pytest.skip('need %d example images (examples/images or tests/data), found %d' % (count, len(images)))
    return images[:count]


def write_voc_folder(folder, images=None):
    """A small Pascal VOC folder (images/ + annotations/) built from tests/data: the three Kaggle reference
    photos with the official model's faces at shrink 0.5 as their boxes and labels."""
    import shutil
    import pandas as pd
    table = pd.read_csv(TEST_DATA / 'reference' / 'expected_table.csv')
    table = table[table['shrink'] == 0.5]
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    (folder / 'annotations').mkdir(exist_ok=True)
    names = {'MASK': 'with_mask', 'NO MASK': 'without_mask'}
    for name, faces in table.groupby('image'):
        if images is not None and name not in images:
            continue
        import cv2
        src = TEST_DATA / 'reference' / 'images' / name
        shutil.copy(src, folder / 'images' / name)
        h, w = cv2.imread(str(src)).shape[:2]
        objects = ''.join(
            '<object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax><ymax>%d</ymax></bndbox>'
            '</object>' % (names[f.label], f.left, f.top, f.right, f.bottom) for f in faces.itertuples())
        (folder / 'annotations' / (Path(name).stem + '.xml')).write_text(
            '<annotation><filename>%s</filename><size><width>%d</width><height>%d</height><depth>3</depth></size>'
            '%s</annotation>' % (name, w, h, objects))
    return folder


@pytest.fixture
def tiny_voc(tmp_path):
    return write_voc_folder(tmp_path / 'my_faces')


@pytest.fixture
def no_shared(monkeypatch):
    """As in a fresh clone: no development data beside the repository."""
    monkeypatch.setenv('MASKHUB_SHARED', '/nonexistent/maskhub-shared')
