"""Video frames with OpenCV: every N-th frame, or N frames per second."""
import math
from dataclasses import dataclass

import cv2

from maskhub.io.errors import ItemError

VIDEO_EXTENSIONS = {'.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv'}


class VideoError(ItemError):
    pass


@dataclass
class VideoFrame:
    index: int
    timestamp_s: float
    image: object   # uint8 HxWx3 BGR


def frame_step(video_fps, every_n=None, fps=None):
    """Frames to advance between sampled frames."""
    if every_n and fps:
        raise ValueError('give every_n or fps, not both')
    if fps:
        return max(1, int(round((video_fps or fps) / fps)))
    return max(1, int(every_n or 1))


def iter_frames(path, every_n=None, fps=None, max_frames=None):
    """Yield sampled ``VideoFrame``s; raises VideoError if the file cannot be opened or has no frame."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, 'cannot open video')
    try:
        video_fps = cap.get(cv2.CAP_PROP_FPS)
        video_fps = video_fps if video_fps and math.isfinite(video_fps) and video_fps > 0 else 25.0
        step = frame_step(video_fps, every_n, fps)
        index, yielded = 0, 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % step == 0:
                ok, image = cap.retrieve()
                if not ok or image is None:
                    raise VideoError(path, 'cannot decode frame %d' % index)
                yield VideoFrame(index, index / video_fps, image)
                yielded += 1
                if max_frames and yielded >= max_frames:
                    break
            index += 1
        if index == 0:
            raise VideoError(path, 'no decodable frame')
    finally:
        cap.release()


def probe_video(path, every_n=None, fps=None):
    """(sampled frames per second, number of frames ``iter_frames`` will yield or None if unknown,
    (width, height)) from the container header, without decoding; (None, None, None) if it cannot open."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return None, None, None
        video_fps = cap.get(cv2.CAP_PROP_FPS)
        video_fps = video_fps if video_fps and math.isfinite(video_fps) and video_fps > 0 else 25.0
        step = frame_step(video_fps, every_n, fps)
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        sampled = int(math.ceil(count / step)) if count and math.isfinite(count) and count > 0 else None
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        return video_fps / step, sampled, size
    finally:
        cap.release()
