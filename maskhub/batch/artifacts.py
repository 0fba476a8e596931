"""What a predict run writes besides its tables (``maskhub.batch.outputs``): annotated images, annotated
videos, face crops.

File names follow the inputs: each keeps the last ``depth`` parts of its path, the fewest that tell all
inputs of the run apart (usually just the file name). ``photos/a.jpg`` becomes ``images/a.jpg`` and its
faces ``crops/MASK/a_0.jpg``; with ``day1/a.jpg`` and ``day2/a.jpg`` in one run, ``images/day1/a.jpg``
and ``images/day2/a.jpg``. A video ``clips/cam.mp4`` gives ``videos/cam.mp4`` (annotated, at the sampled
frame rate) and ``images/cam/frame_000120.jpg``.
"""
import json
import os
from pathlib import Path

import cv2

from maskhub.io.draw import draw_faces

VIDEO_FOURCC = 'mp4v'


def _parts(path):
    return [p for p in Path(os.path.normpath(os.path.abspath(path))).parts if p not in (os.sep, '')]


def name_depth(paths):
    """The fewest trailing path parts that give every path of ``paths`` its own name."""
    split = [_parts(p) for p in paths]
    for depth in range(1, max((len(s) for s in split), default=1) + 1):
        if len({tuple(s[-depth:]) for s in split}) == len(split):
            return depth
    return max((len(s) for s in split), default=1)


def relative_name(path, depth):
    """The last ``depth`` parts of ``path`` as a relative path (stays inside the output folder)."""
    return Path(*_parts(path)[-int(depth):])


def annotated_name(path, depth, frame=None):
    """Path, under a run's images/ folder, of the annotated copy of ``path`` (or of its ``frame``)."""
    rel = relative_name(path, depth)
    if frame is not None:
        return rel.with_suffix('') / ('frame_%06d.jpg' % int(frame))
    return rel if rel.suffix.lower() in ('.jpg', '.jpeg', '.png', '.bmp') else rel.with_suffix('.jpg')


def find_annotated(run_dir, path, frame=None):
    """The annotated copy of ``path`` saved by the run in ``run_dir`` (--save-images), or None."""
    try:
        summary = json.loads((Path(run_dir) / 'summary.json').read_text(encoding='utf-8'))
        depth = int(summary['options']['output_name_depth'])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    found = Path(run_dir) / 'images' / annotated_name(path, depth, frame)
    return found if found.is_file() else None


def write_image(path, image):
    """cv2.imwrite hides why it failed; encode here and write with Python so that a full disk is an OSError."""
    ok, buf = cv2.imencode(Path(path).suffix or '.jpg', image)
    if not ok:
        raise ValueError('could not encode %s' % path)
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


class RunArtifacts:
    """Writes the optional outputs of one run under ``out``; every method is a no-op when not asked for."""

    def __init__(self, out, item_paths, save_images=False, save_crops=False, save_video=False):
        self.out = Path(out)
        self.depth = name_depth(item_paths)
        self.save_images, self.save_crops, self.save_video = save_images, save_crops, save_video

    def _target(self, folder, rel, suffix=None):
        path = self.out / folder / rel
        if suffix is not None:
            path = path.with_suffix(suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def image(self, path, image_bgr, faces, frame=None):
        """Annotated copy and crops of one image (``faces`` in ``image_bgr`` pixels); returns the annotated image."""
        annotated = draw_faces(image_bgr, faces) if (self.save_images or self.save_video) else None
        rel = annotated_name(path, self.depth, frame)
        if self.save_images:
            write_image(self._target('images', rel), annotated)
        if self.save_crops:
            self._crops(rel, image_bgr, faces)
        return annotated

    def _crops(self, rel, image_bgr, faces):
        h, w = image_bgr.shape[:2]
        for i, f in enumerate(faces):
            get = f.get if isinstance(f, dict) else (lambda k, f=f: getattr(f, k))
            x1, y1 = max(0, int(get('left'))), max(0, int(get('top')))
            x2, y2 = min(w, int(get('right'))), min(h, int(get('bottom')))
            if x2 <= x1 or y2 <= y1:
                continue
            label = str(get('label')).replace(' ', '_')
            name = rel.with_name('%s_%d.jpg' % (rel.stem, i))
            write_image(self._target(Path('crops') / label, name), image_bgr[y1:y2, x1:x2])

    def video_writer(self, path, fps, size):
        """An annotated-video writer for the video ``path`` (None unless --save-video)."""
        if not self.save_video:
            return None
        target = self._target('videos', relative_name(path, self.depth), '.mp4')
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), float(fps), tuple(size))
        if not writer.isOpened():
            raise OSError('cannot write video %s' % target)
        return writer
