"""Pre-processing shared by prediction, evaluation and training: one copy of each recipe."""
import cv2
import numpy as np

DETECTOR_MEAN_BGR = (0.407843, 0.458824, 0.482353)
DETECTOR_STD = 0.5


def detector_input_size(image_hw, shrink):
    """(h, w) of the detector input: int(H * shrink), int(W * shrink), at least 1 px."""
    H, W = image_hw
    return max(int(H * shrink), 1), max(int(W * shrink), 1)


def resize_for_detector(image_bgr, shrink):
    h, w = detector_input_size(image_bgr.shape[:2], shrink)
    if (h, w) == image_bgr.shape[:2]:
        return image_bgr
    return cv2.resize(image_bgr, (w, h))


def normalize_detector(resized_bgr, mean=DETECTOR_MEAN_BGR, std=DETECTOR_STD, out=None):
    """uint8 HxWx3 BGR -> float32 [3, H, W]: (x/255 - mean)/std, in float32, dividing as the reference does.

    One planar float32 buffer, written in place (no intermediate HxWx3 float copies); the same float32
    operations in the same order as the reference, so the result is bit-identical to it. ``out``: an
    optional float32 [3, H, W] buffer to fill (e.g. a row of a batch)."""
    h, w = resized_bgr.shape[:2]
    if out is None:
        out = np.empty((3, h, w), np.float32)
    np.divide(resized_bgr.transpose(2, 0, 1), np.float32(255.0), out=out, dtype=np.float32)
    out -= np.asarray(mean, np.float32)[:, None, None]
    out /= np.float32(std)
    return out


def detector_tensor(image_bgr, shrink, mean=DETECTOR_MEAN_BGR, std=DETECTOR_STD):
    """The detector input of one image: resize by ``shrink`` and normalise -> float32 [1, 3, h, w]."""
    resized = resize_for_detector(image_bgr, shrink)
    out = np.empty((1, 3) + resized.shape[:2], np.float32)
    normalize_detector(resized, mean, std, out=out[0])
    return out


def face_crop_affine(box, out_size=128, context=1.5):
    """Affine matrix mapping a square of side ``context`` × max(w, h), centred on the integer box, to out_size²."""
    left, top, right, bottom = (float(v) for v in box)
    cx, cy = right - (right - left) / 2, bottom - (bottom - top) / 2
    half = max((right - left) / 2, (bottom - top) / 2)
    side = max(2 * half * context, 1e-6)
    s = out_size / side
    m = np.array([[s, 0.0, (1 - s) * cx], [-0.0, s, (1 - s) * cy]], np.float64)
    m[0, 2] -= cx - out_size / 2
    m[1, 2] -= cy - out_size / 2
    return m


def crop_face(image_bgr, box, out_size=128, context=1.5, dst=None):
    size = (out_size, out_size)
    if dst is None:
        return cv2.warpAffine(image_bgr, face_crop_affine(box, out_size, context), size)
    return cv2.warpAffine(image_bgr, face_crop_affine(box, out_size, context), size, dst=dst)


def crop_faces(image_bgr, boxes, out_size=128, context=1.5):
    """uint8 [K, S, S, 3] crops of all ``boxes``, warped straight into one preallocated batch."""
    crops = np.empty((len(boxes), out_size, out_size, 3), np.uint8)
    for k, box in enumerate(boxes):
        crop_face(image_bgr, box, out_size, context, dst=crops[k])
    return crops


def normalize_classifier(crops_bgr):
    """uint8 [K, S, S, 3] BGR crops -> float32 [K, 3, S, S]: x/256 - 0.5 (exact in float32: x/256 is a
    dyadic fraction, so this equals the reference's float64 arithmetic bit for bit)."""
    crops = np.asarray(crops_bgr)
    out = np.empty((crops.shape[0], 3) + crops.shape[1:3], np.float32)
    np.multiply(crops.transpose(0, 3, 1, 2), np.float32(1 / 256), out=out, dtype=np.float32)
    out -= np.float32(0.5)
    return out
