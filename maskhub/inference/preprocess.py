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


def normalize_detector(resized_bgr, mean=DETECTOR_MEAN_BGR, std=DETECTOR_STD):
    """uint8 HxWx3 BGR -> float32 [3, H, W]: (x/255 - mean)/std, in float32, dividing as the reference does."""
    x = resized_bgr.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, np.float32)) / np.float32(std)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


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


def crop_face(image_bgr, box, out_size=128, context=1.5):
    return cv2.warpAffine(image_bgr, face_crop_affine(box, out_size, context), (out_size, out_size))


def normalize_classifier(crops_bgr):
    """uint8 [K, S, S, 3] BGR crops -> float32 [K, 3, S, S]: x/256 - 0.5."""
    crops = np.asarray(crops_bgr)
    return np.ascontiguousarray((crops / 256.0 - 0.5).astype(np.float32).transpose(0, 3, 1, 2))
