"""Annotated images as every reader returns them and every consumer (training, evaluation) takes them."""
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

MASK, NO_MASK = 'MASK', 'NO MASK'
LABELS = (NO_MASK, MASK)          # classifier index order, as the official module
# Pascal VOC names of the mask sets -> our labels. A mask not covering nose and mouth is not worn.
VOC_LABEL_MAP = {'with_mask': MASK, 'without_mask': NO_MASK, 'mask_weared_incorrect': NO_MASK}


@dataclass
class Sample:
    """One image and its faces.

    boxes: float32 [N, 4] (x1, y1, x2, y2) in pixels of the stored image.
    labels: N entries, 'MASK' / 'NO MASK', or None where the set has no mask label (WIDER FACE).
    ignore: bool [N]; True for regions that count neither as hit nor miss (WIDER 'invalid' faces).
    """
    path: str
    boxes: np.ndarray
    labels: list
    ignore: np.ndarray = None
    image_id: str = ''
    source: str = ''
    width: Optional[int] = None
    height: Optional[int] = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        if self.ignore is None:
            self.ignore = np.zeros(len(self.boxes), bool)
        self.ignore = np.asarray(self.ignore, bool)
        if not (len(self.labels) == len(self.boxes) == len(self.ignore)):
            raise ValueError('%s: %d boxes, %d labels, %d ignore flags'
                             % (self.path, len(self.boxes), len(self.labels), len(self.ignore)))
