"""Loading the official reference cases (shared/official_pyramidbox_lite/reference/*.npz)."""
import hashlib
from pathlib import Path

import cv2
import numpy as np

from maskhub.inference.preprocess import normalize_detector, resize_for_detector


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def case_files(folder):
    return sorted(Path(folder).glob('*.npz'))


def load_case(path):
    """npz -> dict of arrays plus 'image' (BGR) and 'input' (our rebuilt detector input)."""
    path = Path(path)
    with np.load(path) as z:
        ref = {k: z[k] for k in z.files}
    ref['name'] = path.stem
    ref['image'] = cv2.imread(str(path.parent / 'images' / str(ref['image_name'])))
    ref['input'] = normalize_detector(resize_for_detector(ref['image'], float(ref['shrink'])))[None]
    return ref
