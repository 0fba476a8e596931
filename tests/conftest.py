import os
from pathlib import Path

import pytest

from tools.make_example_voc import write_voc_folder  # noqa: F401  (tests import it from here)

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


@pytest.fixture
def tiny_voc(tmp_path):
    return write_voc_folder(tmp_path / 'my_faces')


@pytest.fixture
def no_shared(monkeypatch):
    """As in a fresh clone: no development data beside the repository."""
    monkeypatch.setenv('MASKHUB_SHARED', '/nonexistent/maskhub-shared')
