"""Images behind the face rows: finding them, reading an image or a video frame, boxes and crops.

The recorded path is tried first, then the run folder's ``inputs/`` (where the Detect page keeps
uploads), then the run's annotated copy under ``images/`` (``--save-images``), already drawn.
"""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskhub.batch.artifacts import find_annotated
from maskhub.io.draw import draw_faces
from maskhub.io.images import ImageError, read_image
from maskhub.io.video import VIDEO_EXTENSIONS

BOX = ['left', 'top', 'right', 'bottom']
INPUTS_DIR = 'inputs'


class MediaError(ValueError):
    """The image behind some rows cannot be shown; the message says why."""


@dataclass
class UnitImage:
    image: np.ndarray           # uint8 BGR
    scale: float = 1.0          # original pixels per pixel of ``image``
    annotated: bool = False     # the run's --save-images copy: boxes are already drawn
    source: str = ''


def is_video(path):
    return Path(str(path)).suffix.lower() in VIDEO_EXTENSIONS


def candidate_paths(path, run_dir=None):
    path = Path(str(path))
    yield path
    if run_dir is not None:
        yield Path(run_dir) / path
        yield Path(run_dir) / INPUTS_DIR / path.name


def find_media(path, run_dir=None):
    return next((p for p in candidate_paths(path, run_dir) if p.is_file()), None)


def saved_annotated_image(path, frame, run_dir):
    if run_dir is None:
        return None
    return find_annotated(run_dir, path, frame)


def read_video_frame(path, index):
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise MediaError('%s: cannot open video' % path)
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, image = cap.read()
        if not ok or image is None:
            raise MediaError('%s: cannot decode frame %d' % (path, index))
        return image
    finally:
        cap.release()


def load_unit_image(path, frame=None, run_dir=None):
    """The image (or video frame) a face row points at -> UnitImage; MediaError if none can be found."""
    frame = None if frame is None or frame != frame or str(frame) == '<NA>' else int(frame)
    found = find_media(path, run_dir)
    if found is not None:
        try:
            if frame is not None or is_video(found):
                return UnitImage(read_video_frame(found, frame or 0), source=str(found))
            loaded = read_image(found)
            return UnitImage(loaded.image, loaded.scale, source=str(found))
        except ImageError as err:
            raise MediaError(str(err)) from None
    saved = saved_annotated_image(path, frame, run_dir)
    if saved is not None:
        return UnitImage(read_image(saved).image, annotated=True, source=str(saved))
    where = ' or in the run folder' if run_dir is not None else ''
    raise MediaError('%s is not on this machine%s: the boxes cannot be drawn (make the run with '
                     '--save-images to keep annotated copies)' % (path, where))


def _scaled_faces(faces, scale):
    rows = faces[['label', 'confidence'] + BOX].to_dict('records')
    if scale != 1.0:
        for r in rows:
            for k in BOX:
                r[k] = int(r[k] / scale)
    return rows


def annotate(unit, faces):
    """The unit's image with ``faces`` (table rows) drawn, green MASK / red NO MASK."""
    if unit.annotated:
        return unit.image
    return draw_faces(unit.image, _scaled_faces(faces, unit.scale))


def face_crop(unit, face, context=0.3, size=128):
    """A square-ish crop around one face row with some context, resized to ``size`` pixels high."""
    h, w = unit.image.shape[:2]
    left, top, right, bottom = (float(face[k]) / unit.scale for k in BOX)
    pad_x, pad_y = (right - left) * context, (bottom - top) * context
    x1, y1 = max(0, int(left - pad_x)), max(0, int(top - pad_y))
    x2, y2 = min(w, int(np.ceil(right + pad_x))), min(h, int(np.ceil(bottom + pad_y)))
    if x2 <= x1 or y2 <= y1:
        raise MediaError('face box %s lies outside its image' % [face[k] for k in BOX])
    crop = unit.image[y1:y2, x1:x2]
    new_w = max(1, round(crop.shape[1] * size / crop.shape[0]))
    return cv2.resize(crop, (new_w, size), interpolation=cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR)
