"""Geometric augmentations must move the pixels and the boxes together."""
import numpy as np
import pytest

from maskhub.data import transforms as T

# each box painted with its own colour; labels carry the box number so we can look the colour up
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255]], np.uint8)


def painted_scene():
    image = np.zeros((240, 320, 3), np.uint8)
    boxes = np.float32([[10, 20, 50, 60], [100, 30, 124, 54], [200, 100, 300, 200], [40, 150, 56, 166],
                        [150, 180, 190, 230]])
    for (x0, y0, x1, y1), c in zip(boxes.astype(int), COLOURS):
        image[y0:y1, x0:x1] = c
    ignore = np.array([False, True, False, False, True])
    return T.Annotated(image, boxes, list(range(len(boxes))), ignore)


def assert_consistent(a, min_side=6):
    assert len(a.boxes) == len(a.labels) == len(a.ignore)
    original = painted_scene()
    for box, label, ign in zip(a.boxes, a.labels, a.ignore):
        assert ign == original.ignore[label]
        x0, y0, x1, y1 = box
        if min(x1 - x0, y1 - y0) < min_side:
            continue
        # interior (away from the resampled border) has the box's colour
        inner = a.image[int(np.ceil(y0 + 2)):int(y1 - 2), int(np.ceil(x0 + 2)):int(x1 - 2)].reshape(-1, 3)
        if len(inner):
            assert np.abs(inner.astype(int) - COLOURS[label]).max() <= 40, (label, box)
        # and just outside it is not (neighbouring boxes are far apart)
        cy, right = int((y0 + y1) / 2), int(x1 + 2)
        if right < a.image.shape[1] and x1 < a.image.shape[1] - 3:
            assert np.abs(a.image[cy, right].astype(int) - COLOURS[label]).max() > 40


def test_flip():
    assert_consistent(T.horizontal_flip(painted_scene()))


def test_expand_crop_resize():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = T.expand(painted_scene(), rng)
        a = T.random_crop(a, rng)
        assert_consistent(a)
        assert_consistent(T.resize(a, 300, 300), min_side=10)


def test_crop_window_outside_image_pads():
    a = T.crop_window(painted_scene(), -50, -50, 100, 100)
    assert a.image.shape == (150, 150, 3)
    assert (a.image[0, 0] == T.FILL_BGR).all()
    assert_consistent(a)


@pytest.mark.parametrize('seed', range(10))
def test_data_anchor_sampling(seed):
    rng = np.random.default_rng(seed)
    a = T.data_anchor_sampling(painted_scene(), rng, 160)
    assert a.image.shape == (160, 160, 3)
    assert len(a.boxes) >= 1 and not a.ignore.all()
    assert_consistent(a, min_side=10)


def test_photometric_keeps_annotations():
    a = painted_scene()
    b = T.photometric_distort(a, np.random.default_rng(3))
    assert b.image.shape == a.image.shape and b.image.dtype == np.uint8
    np.testing.assert_array_equal(a.boxes, b.boxes)


def test_full_pipeline_shapes_and_tiny_faces_ignored():
    rng = np.random.default_rng(1)
    for _ in range(10):
        a = T.detector_train_transform(painted_scene(), rng, 128, min_face_side=4.0)
        assert a.image.shape == (128, 128, 3)
        side = np.minimum(a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1])
        assert a.ignore[side < 4].all()
        assert (a.boxes >= 0).all() and (a.boxes <= 128).all()


@pytest.mark.parametrize('seed', range(10))
def test_shrink_crop_keeps_test_time_face_sizes(seed):
    rng = np.random.default_rng(seed)
    a = T.shrink_crop(painted_scene(), rng, 96, scale_range=(0.5, 0.5))
    assert a.image.shape == (96, 96, 3)
    assert_consistent(a, min_side=10)
    # at shrink 0.5 every face that is not clipped by the window is half its original width
    original = painted_scene()
    for box, label in zip(a.boxes, a.labels):
        x0, y0, x1, y1 = box
        if 0 < x0 and x1 < 96 and 0 < y0 and y1 < 96:
            w0 = original.boxes[label][2] - original.boxes[label][0]
            assert abs((x1 - x0) - w0 / 2) < 0.51


def test_shrink_crop_in_the_pipeline():
    rng = np.random.default_rng(5)
    for _ in range(10):
        a = T.detector_train_transform(painted_scene(), rng, 128, shrink_crop_prob=1.0, shrink_range=(0.4, 1.0))
        assert a.image.shape == (128, 128, 3)
        assert (a.boxes >= 0).all() and (a.boxes <= 128).all()
