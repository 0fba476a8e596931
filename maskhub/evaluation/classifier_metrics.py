"""The mask classifier alone, on ground-truth face boxes: accuracy, per-class precision / recall / F1,
and the confusion matrix (rows = truth, columns = prediction)."""
import numpy as np


def confusion_matrix(truth, predicted, labels):
    index = {l: i for i, l in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), np.int64)
    for t, p in zip(truth, predicted):
        cm[index[t], index[p]] += 1
    return cm


def metrics_from_confusion(cm, labels):
    cm = np.asarray(cm, np.int64)
    total = int(cm.sum())
    per_class = {}
    for i, label in enumerate(labels):
        tp = int(cm[i, i])
        predicted, actual = int(cm[:, i].sum()), int(cm[i, :].sum())
        precision = tp / predicted if predicted else float('nan')
        recall = tp / actual if actual else float('nan')
        f1 = 2 * precision * recall / (precision + recall) if predicted and actual and tp else (
            0.0 if predicted or actual else float('nan'))
        per_class[label] = {'precision': precision, 'recall': recall, 'f1': f1, 'support': actual}
    f1s = [m['f1'] for m in per_class.values() if not np.isnan(m['f1'])]
    return {'faces': total,
            'accuracy': float(np.trace(cm)) / total if total else float('nan'),
            'per_class': per_class,
            'macro_f1': float(np.mean(f1s)) if f1s else float('nan'),
            'labels': list(labels),
            'confusion': cm.tolist()}


def classifier_metrics(truth, predicted, labels):
    """Metrics over paired lists of true and predicted labels."""
    return metrics_from_confusion(confusion_matrix(truth, predicted, labels), labels)


def classify_ground_truth(detector, image_bgr, sample, coordinate_scale=1.0):
    """(true labels, predicted labels) of the labelled, non-ignored faces of one image, classified by
    ``detector.classify`` on crops of their ground-truth boxes (the pipeline's own crop recipe)."""
    keep = [i for i, (l, ig) in enumerate(zip(sample.labels, sample.ignore)) if l is not None and not ig]
    if not keep:
        return [], []
    boxes = sample.boxes[keep] / np.float32(coordinate_scale)
    probs = detector.classify(image_bgr, boxes)
    labels = detector.config.classifier.labels
    return [sample.labels[i] for i in keep], [labels[int(k)] for k in probs.argmax(axis=1)]
