"""Prediction results: one ``ImageResult`` per image (or video frame), one ``Face`` per face.

``ImageResult.to_hub_dict()`` gives the official module's structure; ``rows()`` feed the tables.
"""
from dataclasses import dataclass, field
from typing import List, Optional


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
