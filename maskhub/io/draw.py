"""Annotated images: green boxes for MASK, red for NO MASK, with label and confidence."""
import cv2

COLORS_BGR = {'MASK': (0, 200, 0), 'NO MASK': (0, 0, 230)}


def draw_faces(image_bgr, faces):
    """Copy of ``image_bgr`` with each face (``Face`` or row dict) drawn."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 500))
    for f in faces:
        get = f.get if isinstance(f, dict) else lambda k: getattr(f, k)
        color = COLORS_BGR.get(get('label'), (200, 200, 0))
        p1, p2 = (int(get('left')), int(get('top'))), (int(get('right')), int(get('bottom')))
        cv2.rectangle(out, p1, p2, color, thickness)
        text = '%s %.2f' % (get('label'), float(get('confidence')))
        scale = 0.4 * thickness
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x, y = label_origin(p1, p2, tw, th, base, out.shape[:2])
        cv2.rectangle(out, (x, y - th - 2), (x + tw, y + base), color, -1)
        cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def label_origin(p1, p2, tw, th, base, image_hw):
    """Baseline origin of a label ``tw`` wide, ``th`` + ``base`` high, for the box p1-p2: above the box,
    else below it, else inside its top; shifted so that the whole label stays inside the image."""
    h, w = image_hw
    if p1[1] - base - th - 4 >= 0:
        y = p1[1] - base - 2
    elif p2[1] + th + base + 4 <= h - 1:
        y = p2[1] + th + 4
    else:
        y = p1[1] + th + 2
    x = min(max(0, p1[0]), max(0, w - 1 - tw))
    y = min(max(th + 2, y), max(th + 2, h - 1 - base))
    return int(x), int(y)
