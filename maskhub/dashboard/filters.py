"""Table filters: label, confidence range, face size range, path text."""
from dataclasses import dataclass
from typing import Optional, Tuple

from maskhub.dashboard.frames import FACE_SIZE

LABELS = ('MASK', 'NO MASK')


@dataclass(frozen=True)
class FaceFilter:
    labels: Tuple[str, ...] = LABELS
    confidence: Tuple[float, float] = (0.0, 1.0)
    face_size: Optional[Tuple[int, int]] = None     # longer side in pixels, inclusive; None = any
    path_text: str = ''                            # case-insensitive substring of the path

    def apply(self, faces):
        keep = faces['label'].isin(list(self.labels)).fillna(False).to_numpy(bool)
        lo, hi = self.confidence
        keep &= ((faces['confidence'] >= lo) & (faces['confidence'] <= hi)).fillna(False).to_numpy(bool)
        if self.face_size is not None:
            keep &= ((faces[FACE_SIZE] >= self.face_size[0]) & (faces[FACE_SIZE] <= self.face_size[1])).to_numpy(bool)
        if self.path_text.strip():
            found = faces['path'].str.contains(self.path_text.strip(), case=False, regex=False)
            keep &= found.fillna(False).to_numpy(bool)
        return faces[keep]


def face_size_bounds(faces):
    """(min, max) of the face sizes, for a slider; (0, 1) on an empty table."""
    if not len(faces):
        return 0, 1
    lo, hi = int(faces[FACE_SIZE].min()), int(faces[FACE_SIZE].max())
    return lo, max(hi, lo + 1)


def sort_faces(faces, column, ascending=True):
    return faces.sort_values(column, ascending=ascending, kind='stable', na_position='last')


def to_csv_bytes(faces, columns):
    return faces[columns].to_csv(index=False).encode('utf-8')
