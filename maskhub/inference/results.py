"""Prediction results: one ``ImageResult`` per image (or video frame), one ``Face`` per face.

    result = MaskDetector('mobile')('photo.jpg')
    result.to_hub_dict()      # the official module's structure
    result.to_df()            # one row per face (maskhub.io.tables columns)
    result.to_json()          # JSON text: path, size, model, timings, faces
    result.plot()             # annotated BGR image (numpy), green MASK / red NO MASK
    result.save('out.jpg')    # annotated image; '.json' / '.csv' / '.parquet' write the data instead

A call on several images returns ``Results``, a list of ``ImageResult`` with the same table / JSON methods.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


@dataclass
class Face:
    label: str            # 'MASK' or 'NO MASK'
    confidence: float     # classifier probability of ``label`` (the official module's 'confidence')
    left: int
    top: int
    right: int
    bottom: int
    face_score: float     # detector score
    mask_probability: float = float('nan')

    def to_hub_dict(self):
        return {'label': self.label, 'confidence': float(self.confidence), 'left': int(self.left),
                'top': int(self.top), 'right': int(self.right), 'bottom': int(self.bottom)}

    def to_dict(self):
        return {**self.to_hub_dict(), 'face_score': float(self.face_score),
                'mask_probability': float(self.mask_probability)}


def _write_table(df, path):
    if path.suffix == '.parquet':
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


@dataclass
class ImageResult:
    path: str
    faces: List[Face]
    image_width: int
    image_height: int
    frame: Optional[int] = None
    timestamp_s: Optional[float] = None
    model: str = ''
    timings_ms: dict = field(default_factory=dict)
    # the decoded image the faces were found on (only kept by ``MaskDetector.__call__``, for ``plot``)
    image: Optional[np.ndarray] = field(default=None, repr=False, compare=False)

    def to_hub_dict(self):
        return {'path': self.path, 'data': [f.to_hub_dict() for f in self.faces]}

    def rows(self):
        """Table rows, one per face, in the column order of ``maskhub.io.tables.PREDICTION_COLUMNS``."""
        out = []
        for i, f in enumerate(self.faces):
            out.append({'label': f.label, 'confidence': float(f.confidence), 'left': int(f.left),
                        'top': int(f.top), 'right': int(f.right), 'bottom': int(f.bottom),
                        'face_score': float(f.face_score), 'id': i, 'path': self.path,
                        'frame': self.frame, 'timestamp_s': self.timestamp_s,
                        'face_width': int(f.right - f.left), 'face_height': int(f.bottom - f.top),
                        'image_width': self.image_width, 'image_height': self.image_height,
                        'model': self.model})
        return out

    def to_dict(self):
        return {'path': self.path, 'image_width': self.image_width, 'image_height': self.image_height,
                'frame': self.frame, 'timestamp_s': self.timestamp_s, 'model': self.model,
                'timings_ms': {k: round(float(v), 3) for k, v in self.timings_ms.items()},
                'faces': [f.to_dict() for f in self.faces]}

    def to_json(self, indent=None):
        return json.dumps(self.to_dict(), indent=indent)

    def to_df(self):
        from maskhub.io.tables import rows_to_dataframe
        return rows_to_dataframe(self.rows())

    def plot(self, image_bgr=None):
        """The image with its faces drawn (uint8 BGR copy). Uses ``image_bgr``, else the kept image, else
        reads ``path``; boxes are in original pixels, so a reduced decode is scaled back up first."""
        import cv2

        from maskhub.io.draw import draw_faces
        from maskhub.io.images import read_image
        image = image_bgr if image_bgr is not None else self.image
        if image is None:
            if not self.path or not Path(self.path).is_file():
                raise ValueError('no image to draw on for %r: pass plot(image_bgr)' % self.path)
            image = read_image(self.path).image
        if image.shape[:2] != (self.image_height, self.image_width):
            image = cv2.resize(image, (self.image_width, self.image_height))
        return draw_faces(image, self.faces)

    def save(self, path, image_bgr=None):
        """Write the annotated image (image suffixes), the JSON (.json) or the face table (.csv / .parquet)."""
        import cv2
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if suffix == '.json':
            path.write_text(self.to_json(indent=2), encoding='utf-8')
        elif suffix in ('.csv', '.parquet'):
            _write_table(self.to_df(), path)
        elif suffix in IMAGE_SUFFIXES:
            if not cv2.imwrite(str(path), self.plot(image_bgr)):
                raise OSError('could not write %s' % path)
        else:
            raise ValueError('save(%r): use an image suffix (%s), .json, .csv or .parquet'
                             % (str(path), ', '.join(IMAGE_SUFFIXES)))
        return path


class Results(list):
    """``ImageResult``s of several images, in input order; ``errors`` lists the inputs that failed
    (one line each, naming the item) while the others went on."""

    def __init__(self, results=(), errors=()):
        super().__init__(results)
        self.errors = list(errors)

    def to_df(self):
        from maskhub.io.tables import results_to_dataframe
        return results_to_dataframe(self)

    def to_json(self, indent=None):
        return json.dumps([r.to_dict() for r in self], indent=indent)

    def to_hub_dicts(self):
        return [r.to_hub_dict() for r in self]

    def save(self, path):
        """A .json / .csv / .parquet file of all results, or (a folder) one annotated image per result."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == '.json':
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_json(indent=2), encoding='utf-8')
            return [path]
        if suffix in ('.csv', '.parquet'):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_table(self.to_df(), path)
            return [path]
        return [r.save(path / ('%s_%d.jpg' % (Path(r.path).stem or 'image', i))) for i, r in enumerate(self)]
