"""Training augmentations for the detector. Every transform maps an ``Annotated`` to a new one, keeping
boxes, labels and ignore flags aligned (boxes that leave the image drop together with their flags).

Boxes are float xyxy in pixels of ``image`` (uint8 HxWx3 BGR).
"""
from dataclasses import dataclass, replace

import cv2
import numpy as np

from maskhub.inference.preprocess import DETECTOR_MEAN_BGR

FILL_BGR = tuple(int(round(255 * m)) for m in DETECTOR_MEAN_BGR)
# anchor scales of PyramidBox data-anchor-sampling
ANCHOR_SCALES = (16, 32, 64, 128, 256, 512)


@dataclass
class Annotated:
    """``face_weights`` (optional, one per face): how likely each face is to be the one a crop is built
    around (data-anchor-sampling, shrink crop); uniform when None."""
    image: np.ndarray
    boxes: np.ndarray
    labels: list
    ignore: np.ndarray
    face_weights: np.ndarray = None

    @classmethod
    def from_sample(cls, sample, image, face_weights=None):
        return cls(image, sample.boxes.copy(), list(sample.labels), sample.ignore.copy(), face_weights)

    def select(self, keep, boxes=None, image=None):
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return Annotated(self.image if image is None else image,
                         (self.boxes if boxes is None else boxes)[idx].astype(np.float32),
                         [self.labels[i] for i in idx], self.ignore[idx].copy(),
                         None if self.face_weights is None else self.face_weights[idx])

    def pick_face(self, rng):
        """Index of a random valid face (weighted by ``face_weights``), or None when there is none."""
        valid = np.flatnonzero(~self.ignore)
        if valid.size == 0:
            return None
        if self.face_weights is None:
            return int(rng.choice(valid))
        w = self.face_weights[valid].astype(np.float64)
        return int(rng.choice(valid, p=w / w.sum()))


def photometric_distort(a, rng, brightness=32, contrast=(0.6, 1.4), saturation=(0.6, 1.4), hue=12):
    """Random brightness, contrast, saturation, hue, each with probability 0.5."""
    img = a.image.astype(np.float32)
    if rng.random() < 0.5:
        img += rng.uniform(-brightness, brightness)
    if rng.random() < 0.5:
        img *= rng.uniform(*contrast)
    if rng.random() < 0.5 or rng.random() < 0.5:
        hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_BGR2HSV).astype(np.float32)
        if rng.random() < 0.5:
            hsv[..., 1] *= rng.uniform(*saturation)
        if rng.random() < 0.5:
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue)) % 180
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR).astype(np.float32)
    return replace(a, image=np.clip(img, 0, 255).astype(np.uint8))


def horizontal_flip(a):
    w = a.image.shape[1]
    boxes = a.boxes.copy()
    boxes[:, 0], boxes[:, 2] = w - a.boxes[:, 2], w - a.boxes[:, 0]
    return replace(a, image=np.ascontiguousarray(a.image[:, ::-1]), boxes=boxes)


def expand(a, rng, max_ratio=3.0):
    """Place the image at a random spot of a larger canvas filled with the detector mean (zooms out)."""
    h, w = a.image.shape[:2]
    ratio = rng.uniform(1.0, max_ratio)
    H, W = int(h * ratio), int(w * ratio)
    top, left = int(rng.uniform(0, H - h)), int(rng.uniform(0, W - w))
    canvas = np.empty((H, W, 3), np.uint8)
    canvas[:] = FILL_BGR
    canvas[top:top + h, left:left + w] = a.image
    return replace(a, image=canvas, boxes=a.boxes + np.float32([left, top, left, top]))


def crop_window(a, x0, y0, x1, y1):
    """Crop to the integer window (may extend past the image: padded with the mean); keep boxes whose
    centre lies inside, clipped to the window."""
    h, w = a.image.shape[:2]
    out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    out[:] = FILL_BGR
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a.image[sy0:sy1, sx0:sx1]
    centres = (a.boxes[:, :2] + a.boxes[:, 2:]) / 2
    inside = (centres[:, 0] >= x0) & (centres[:, 0] < x1) & (centres[:, 1] >= y0) & (centres[:, 1] < y1)
    boxes = a.boxes - np.float32([x0, y0, x0, y0])
    boxes = np.clip(boxes, 0, np.float32([x1 - x0, y1 - y0, x1 - x0, y1 - y0]))
    return a.select(inside, boxes=boxes, image=out)


def random_crop(a, rng, min_scale=0.3, tries=30):
    """SSD-style crop: a random window of 0.3-1 of each side that keeps at least one face centre."""
    h, w = a.image.shape[:2]
    for _ in range(tries):
        cw, ch = int(w * rng.uniform(min_scale, 1.0)), int(h * rng.uniform(min_scale, 1.0))
        if cw < 8 or ch < 8 or not 0.5 <= cw / ch <= 2.0:
            continue
        x0, y0 = int(rng.uniform(0, w - cw + 1)), int(rng.uniform(0, h - ch + 1))
        out = crop_window(a, x0, y0, x0 + cw, y0 + ch)
        if len(out.boxes) and not out.ignore.all():
            return out
    return a


def resize(a, out_w, out_h):
    h, w = a.image.shape[:2]
    sx, sy = out_w / w, out_h / h
    image = cv2.resize(a.image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return replace(a, image=image, boxes=a.boxes * np.float32([sx, sy, sx, sy]))


def scale_image(a, scale):
    h, w = a.image.shape[:2]
    return resize(a, max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))


def data_anchor_sampling(a, rng, out_size, anchor_scales=ANCHOR_SCALES):
    """PyramidBox data-anchor-sampling: pick a face, rescale the image so that face matches a random
    anchor scale no larger than one step above its own, then take an ``out_size`` square around it.
    Biases training towards small faces while keeping real image context."""
    face_index = a.pick_face(rng)
    if face_index is None:
        return None
    face = a.boxes[face_index]
    face_side = float(np.sqrt(max((face[2] - face[0]) * (face[3] - face[1]), 1.0)))
    nearest = int(np.argmin(np.abs(np.asarray(anchor_scales) - face_side)))
    target_anchor = anchor_scales[rng.integers(0, min(nearest + 1, len(anchor_scales) - 1) + 1)]
    scale = rng.uniform(target_anchor / 2, target_anchor * 2) / face_side
    fx0, fy0, fx1, fy1 = face * np.float32(scale)
    # a window (in rescaled pixels) containing the face where possible, centred on faces larger than it
    x0 = rng.uniform(fx1 - out_size, fx0) if fx1 - fx0 < out_size else (fx0 + fx1 - out_size) / 2
    y0 = rng.uniform(fy1 - out_size, fy0) if fy1 - fy0 < out_size else (fy0 + fy1 - out_size) / 2
    # crop in original pixels, then resize: cheaper than rescaling the whole image
    side = max(int(round(out_size / scale)), 1)
    ox0, oy0 = int(round(x0 / scale)), int(round(y0 / scale))
    return resize(crop_window(a, ox0, oy0, ox0 + side, oy0 + side), out_size, out_size)


def shrink_crop(a, rng, out_size, scale_range=(0.35, 1.0)):
    """An ``out_size`` square of the image as inference sees it at a random shrink in ``scale_range``:
    the image scaled by that factor, the window placed around a random face (anywhere when there is
    none). Faces keep the sizes they have at test time, so crowds of tiny faces are trained as such."""
    scale = float(rng.uniform(*scale_range))
    side = max(int(round(out_size / scale)), 1)
    h, w = a.image.shape[:2]
    # window origins that keep it on the image where the image is large enough, so padding stays rare
    x_lo, x_hi, y_lo, y_hi = min(0, w - side), max(0, w - side), min(0, h - side), max(0, h - side)
    face_index = a.pick_face(rng)
    if face_index is not None:
        face = a.boxes[face_index]
        cx, cy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
        x0 = int(round(cx - rng.uniform(0.1, 0.9) * side))
        y0 = int(round(cy - rng.uniform(0.1, 0.9) * side))
    else:
        x0, y0 = int(rng.uniform(x_lo, x_hi + 1)), int(rng.uniform(y_lo, y_hi + 1))
    x0, y0 = int(np.clip(x0, x_lo, x_hi)), int(np.clip(y0, y_lo, y_hi))
    return resize(crop_window(a, x0, y0, x0 + side, y0 + side), out_size, out_size)


def ignore_tiny(a, min_side=2.0):
    """Faces below ``min_side`` px after resizing cannot be learned: they neither count as positives nor negatives."""
    side = np.minimum(a.boxes[:, 2] - a.boxes[:, 0], a.boxes[:, 3] - a.boxes[:, 1])
    return replace(a, ignore=a.ignore | (side < min_side))


def detector_train_transform(a, rng, out_size, anchor_sampling_prob=0.5, expand_prob=0.3, min_face_side=2.0,
                             shrink_crop_prob=0.0, shrink_range=(0.35, 1.0)):
    """The training pipeline: photometric distortion, then one of shrink-crop (``shrink_crop_prob``),
    data-anchor-sampling (``anchor_sampling_prob`` of the rest) or expand + random crop, giving an
    ``out_size`` square; horizontal flip."""
    a = photometric_distort(a, rng)
    sampled = None
    if rng.random() < shrink_crop_prob:
        sampled = shrink_crop(a, rng, out_size, shrink_range)
    elif rng.random() < anchor_sampling_prob:
        sampled = data_anchor_sampling(a, rng, out_size)
    if sampled is None:
        if rng.random() < expand_prob:
            a = expand(a, rng)
        a = resize(random_crop(a, rng), out_size, out_size)
    else:
        a = sampled
    if rng.random() < 0.5:
        a = horizontal_flip(a)
    return ignore_tiny(a, min_face_side)
