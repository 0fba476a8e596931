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
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        y = p1[1] - 2 if p1[1] - th - 4 >= 0 else p2[1] + th + 2
        cv2.rectangle(out, (p1[0], y - th - 2), (p1[0] + tw, y + 2), color, -1)
        cv2.putText(out, text, (p1[0], y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
