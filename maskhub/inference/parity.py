"""Do two pipelines give the same faces? Used to admit a runtime / precision (``runtimes.PARITY_PASSED``),
by the benchmark, the tests and the Paddle-Lite bundle verification.

The precision rule: against fp32, the same faces at IoU >= 0.9 with detector scores and mask
confidences within 5e-3 on real images, and face AP on the WIDER val split within 0.3 points.
"""
import numpy as np

from maskhub.inference.postprocess import iou_one_to_many

MIN_IOU = 0.9
SCORE_TOL = 5e-3
MAX_AP_LOSS_POINTS = 0.3


def face_to_dict(face):
    return {'label': face.label, 'confidence': float(face.confidence), 'left': face.left, 'top': face.top,
            'right': face.right, 'bottom': face.bottom, 'face_score': float(face.face_score)}


def _boxes(faces):
    return np.asarray([[f['left'], f['top'], f['right'], f['bottom']] for f in faces], np.float64).reshape(-1, 4)


def compare_faces(reference, candidate, confs_threshold, min_iou=MIN_IOU, score_tol=SCORE_TOL):
    """Greedy one-to-one matching by IoU (reference faces by descending score) of two face-dict lists
    (``face_to_dict``); returns a summary dict with ``passed``.

    A face missing on one side is tolerated only when its detector score is within ``score_tol`` of
    ``confs_threshold`` (it sits on the threshold, so either side of it is right): ``on_threshold``."""
    ref_boxes, cand_boxes = _boxes(reference), _boxes(candidate)
    free = np.ones(len(candidate), bool)
    pairs, ious = [], []
    for i in np.argsort([-f['face_score'] for f in reference], kind='stable'):
        if not free.any():
            break
        overlap = np.where(free, iou_one_to_many(ref_boxes[i], cand_boxes), -1.0)
        j = int(np.argmax(overlap))
        if overlap[j] >= min_iou:
            free[j] = False
            pairs.append((int(i), j))
            ious.append(float(overlap[j]))
    matched_ref = {i for i, _ in pairs}
    unmatched = [reference[i] for i in range(len(reference)) if i not in matched_ref]
    unmatched += [candidate[j] for j in np.flatnonzero(free)]
    on_threshold = [f for f in unmatched if abs(f['face_score'] - confs_threshold) <= score_tol]
    score_diff = [abs(reference[i]['face_score'] - candidate[j]['face_score']) for i, j in pairs]
    conf_diff = [abs(reference[i]['confidence'] - candidate[j]['confidence']) for i, j in pairs]
    label_mismatches = sum(reference[i]['label'] != candidate[j]['label'] for i, j in pairs)
    result = {
        'reference_faces': len(reference), 'candidate_faces': len(candidate), 'matched': len(pairs),
        'unmatched': len(unmatched) - len(on_threshold), 'on_threshold': len(on_threshold),
        'min_iou': min(ious) if ious else None,
        'max_score_diff': max(score_diff) if score_diff else 0.0,
        'max_confidence_diff': max(conf_diff) if conf_diff else 0.0,
        'label_mismatches': int(label_mismatches),
    }
    result['passed'] = bool(result['unmatched'] == 0 and result['label_mismatches'] == 0
                            and result['max_score_diff'] <= score_tol and result['max_confidence_diff'] <= score_tol)
    return result


def compare_detectors(reference, candidate, images, shrink=None, confs_threshold=None, min_iou=MIN_IOU,
                      score_tol=SCORE_TOL):
    """``compare_faces`` of two ``MaskDetector``s over uint8 BGR ``images``; a summary over all of them.
    A label flip counts only where the reference's confidence is beyond ``score_tol`` of a tie."""
    confs_threshold = reference.config.options(shrink, confs_threshold)[1]
    rows = []
    for image in images:
        ref = [face_to_dict(f) for f in reference.predict_image(image, shrink, confs_threshold).faces]
        cand = [face_to_dict(f) for f in candidate.predict_image(image, shrink, confs_threshold).faces]
        rows.append(compare_faces(ref, cand, confs_threshold, min_iou, score_tol))
    return {'images': len(rows), 'reference_faces': sum(r['reference_faces'] for r in rows),
            'matched': sum(r['matched'] for r in rows), 'unmatched': sum(r['unmatched'] for r in rows),
            'on_threshold': sum(r['on_threshold'] for r in rows),
            'label_mismatches': sum(r['label_mismatches'] for r in rows),
            'min_iou': min((r['min_iou'] for r in rows if r['min_iou'] is not None), default=None),
            'max_score_diff': max((r['max_score_diff'] for r in rows), default=0.0),
            'max_confidence_diff': max((r['max_confidence_diff'] for r in rows), default=0.0),
            'passed': all(r['passed'] for r in rows), 'min_iou_rule': min_iou, 'score_tol': score_tol}
