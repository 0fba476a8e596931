"""What a model predicted on one image, in the form every metric here takes."""
from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Detections:
    """Faces found in one image.

    boxes: float32 [D, 4] xyxy in pixels of the stored image, by descending score.
    scores: float32 [D] detector face scores.
    probs: float32 [D, len(labels)] classifier probabilities, NaN rows for detections that were not
        classified (below the classification floor); None when the run did not classify at all.
    labels: the classifier's label order (config.classifier.labels).
    """
    boxes: np.ndarray
    scores: np.ndarray
    probs: Optional[np.ndarray] = None
    labels: tuple = ('NO MASK', 'MASK')

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        if self.probs is not None:
            self.probs = np.asarray(self.probs, np.float32).reshape(len(self.boxes), len(self.labels))

    def predicted_labels(self):
        """Label per detection, None where not classified."""
        if self.probs is None:
            return [None] * len(self.boxes)
        return [None if np.isnan(p).any() else self.labels[int(np.argmax(p))] for p in self.probs]

    def to_json(self):
        out = {'boxes': np.round(self.boxes, 1).tolist(), 'scores': np.round(self.scores, 5).tolist(),
               'labels': list(self.labels)}
        if self.probs is not None:
            out['probs'] = [None if np.isnan(p).any() else np.round(p, 5).tolist() for p in self.probs]
        return out

    @classmethod
    def from_json(cls, d):
        probs = d.get('probs')
        if probs is not None:
            width = len(d['labels'])
            probs = np.array([[np.nan] * width if p is None else p for p in probs], np.float32).reshape(-1, width)
        return cls(d['boxes'], d['scores'], probs, tuple(d['labels']))
