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


def _fps_of(cap):
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if fps and math.isfinite(fps) and fps > 0 else 25.0


def video_info(path):
    """(frame count or None when the container does not say, frames per second); VideoError if unopenable."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, 'cannot open video')
    try:
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return (int(count) if count and math.isfinite(count) and count > 0 else None), _fps_of(cap)
    finally:
        cap.release()


def _seek(cap, path, start):
    """Position ``cap`` on frame ``start``: a container seek, checked, else grabbing from the start."""
    if cap.set(cv2.CAP_PROP_POS_FRAMES, start) and int(cap.get(cv2.CAP_PROP_POS_FRAMES)) == start:
        return cap
    cap.release()
    cap = cv2.VideoCapture(str(path))
    for _ in range(start):
        if not cap.grab():
            break
    return cap


def iter_frames(path, every_n=None, fps=None, max_frames=None, start=0, stop=None):
    """Yield sampled ``VideoFrame``s; raises VideoError if the file cannot be opened or has no frame.

    ``start`` / ``stop`` restrict it to the frame indices [start, stop) (a slice of a long video for one
    worker); the sampled frames are the same as in a whole-video pass (index multiple of the step).
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(path, 'cannot open video')
    try:
        video_fps = _fps_of(cap)
        step = frame_step(video_fps, every_n, fps)
        if start:
            cap = _seek(cap, path, start)
        index, yielded = start, 0
        while stop is None or index < stop:
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
