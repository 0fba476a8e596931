"""Milliseconds per 640×480 frame through the whole pipeline (detect + classify), as the report states it."""
import time

import cv2
import numpy as np

FRAME_WIDTH, FRAME_HEIGHT = 640, 480


def frame_640x480(image_bgr=None):
    """A real image stretched to 640×480 (faces make the classifier run too), or mid-grey without one."""
    if image_bgr is None:
        return np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 128, np.uint8)
    return cv2.resize(image_bgr, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_AREA)


def ms_per_frame(detector, frame, shrink, confs_threshold=None, repeats=10, warmup=2):
    """(fastest, median) wall time of ``predict_image`` in ms, and the number of faces it returned.

    On a shared CPU the fastest run is the steadier figure: other jobs only ever add time."""
    for _ in range(warmup):
        result = detector.predict_image(frame, shrink, confs_threshold)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = detector.predict_image(frame, shrink, confs_threshold)
        times.append(1e3 * (time.perf_counter() - t0))
    return float(np.min(times)), float(np.median(times)), len(result.faces)
