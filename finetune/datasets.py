"""Training / validation data for the detector and the classifier, built from maskhub readers and
maskhub preprocessing (one copy of each recipe)."""
import cv2
import numpy as np

from finetune.matching import match_priors
from maskhub.data.samples import LABELS
from maskhub.data.sources import load_data, normalise_spec, weighted_specs
from maskhub.errors import DataError
from maskhub.data.transforms import Annotated, detector_train_transform, horizontal_flip, photometric_distort
from maskhub.inference.preprocess import crop_face, face_crop_affine, normalize_classifier, normalize_detector
from maskhub.models.priors import density_priors

def load_samples(sources, split, require_labels=False):
    """Concatenated samples of ``split`` ('train' or 'val') of the data sources of a training config.

    ``sources``: a data spec (``voc:DIR``, ``wider:GT[:IMAGES]``, ``yaml:FILE``, ``dev:NAME``; see
    maskhub.data.sources), a list of them, or a mapping of spec to a repeat count (e.g.
    ``{wider: 3, mask: 1}``) to weight them. The config names ``wider`` and ``mask`` are the development
    presets ``dev:wider-<split>`` / ``dev:mask-<split>``. ``require_labels``: fail (DataError) unless
    some face has a mask label (the classifier's training data)."""
    out = []
    for spec, count in weighted_specs(sources):
        out.extend(load_data(normalise_spec(spec, split), split) * int(count))
    if require_labels and not any(lab is not None for s in out for lab in s.labels):
        raise DataError('%s data %s: no face has a mask label, and the classifier learns from labelled faces; '
                        'give VOC data labelled with_mask / without_mask / mask_weared_incorrect (--data voc:DIR)'
                        % (split, ', '.join(spec for spec, _ in weighted_specs(sources))))
    return out


def read_image(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise IOError('cannot read %s' % path)
    return image


def prior_targets(boxes, ignore, input_hw, detector_config):
    """(prior labels [P], loc targets [P, 4]) of face ``boxes`` in the pixels of a detector input of ``input_hw``."""
    h, w = input_hw
    priors = density_priors(h, w, detector_config.prior_box)
    return match_priors(priors, boxes / np.float32([w, h, w, h]), ignore, detector_config.variances)


def detector_targets(annotated, detector_config):
    """(normalised input [3, H, W], prior labels [P], loc targets [P, 4]) for one augmented image."""
    labels, targets = prior_targets(annotated.boxes, annotated.ignore, annotated.image.shape[:2], detector_config)
    x = normalize_detector(annotated.image, detector_config.mean_bgr, detector_config.std)
    return x, labels, targets


def hard_face_flags(sample):
    """(atypical pose, heavy occlusion): bool per face from the WIDER attributes; all False without them."""
    attrs, n = sample.extra.get('attributes', {}), len(sample.boxes)
    pose, occlusion = attrs.get('pose'), attrs.get('occlusion')
    return (np.zeros(n, bool) if pose is None else np.asarray(pose) == 1,
            np.zeros(n, bool) if occlusion is None else np.asarray(occlusion) == 2)


def hard_face_weights(sample, weights):
    """Per-face weight for choosing the face a training crop is built around: 1, plus ``weights['pose']`` for
    an atypical pose, ``weights['heavy_occlusion']`` for heavy occlusion (``hard_face_flags``), plus
    ``weights['small']`` for faces under 16 px. None when no weight applies (uniform choice)."""
    if not weights:
        return None
    atypical, occluded = hard_face_flags(sample)
    return (1.0 + float(weights.get('pose', 0)) * atypical + float(weights.get('heavy_occlusion', 0)) * occluded
            + float(weights.get('small', 0)) * (sample.boxes[:, 2] - sample.boxes[:, 0] < 16))


def oversample_hard_images(samples, repeat):
    """``samples`` with every image holding an atypical-pose or heavily occluded face repeated ``repeat`` times."""
    def hard(s):
        atypical, occluded = hard_face_flags(s)
        return bool(atypical.any() or occluded.any())
    return [s for s in samples for _ in range(int(repeat) if hard(s) else 1)]


class DetectorTrainBatches:
    """Per-epoch iterator of augmented batches; each batch has one random square size.

    Batch ``k`` of an epoch depends only on (seed, epoch, rank, k), so a run can resume at any batch
    without replaying the earlier ones."""

    def __init__(self, samples, detector_config, batch_size, sizes, seed, face_weights=None, **augment):
        """``augment``: keyword arguments of ``detector_train_transform`` (e.g. shrink_crop_prob);
        ``face_weights``: see ``hard_face_weights``."""
        self.samples, self.config = samples, detector_config
        self.batch_size, self.sizes, self.seed = batch_size, list(sizes), seed
        self.face_weights = [hard_face_weights(s, face_weights) for s in samples]
        self.augment = augment

    def batch(self, order, epoch, rank, index):
        rng = np.random.default_rng([self.seed, epoch, rank, index])
        size = int(rng.choice(self.sizes))
        xs, labels, targets = [], [], []
        for j in range(self.batch_size):
            k = order[(index * self.batch_size + j) % len(order)]
            sample = self.samples[k]
            a = Annotated.from_sample(sample, read_image(sample.path), self.face_weights[k])
            x, lab, tgt = detector_targets(detector_train_transform(a, rng, size, **self.augment), self.config)
            xs.append(x), labels.append(lab), targets.append(tgt)
        return np.stack(xs), np.stack(labels), np.stack(targets)

    def epoch(self, epoch, num_batches, rank=0, world_size=1, start=0):
        """Batches ``start`` .. ``num_batches - 1`` of ``epoch``."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.samples))[rank::world_size]
        for index in range(start, num_batches):
            yield self.batch(order, epoch, rank, index)


def face_crop_items(samples):
    """(sample index, face index, class index) of every labelled face."""
    return [(i, j, LABELS.index(lab)) for i, s in enumerate(samples) for j, lab in enumerate(s.labels)
            if lab is not None and not s.ignore[j]]


class FaceCropCache:
    """Faces cropped once with extra context (``cache_context`` × the official square), so that
    augmentation only re-crops a small image instead of decoding the photo again."""

    def __init__(self, samples, out_size=128, context=1.5, cache_context=2.0, cache_size=192):
        self.items = face_crop_items(samples)
        self.out_size, self.context = out_size, context
        self.crops, self.boxes = [], []
        for i, s in enumerate(samples):
            faces = [(j, c) for (si, j, c) in self.items if si == i]
            if not faces:
                continue
            image = read_image(s.path)
            for j, _ in faces:
                m = face_crop_affine(s.boxes[j], cache_size, cache_context)
                self.crops.append(crop_face(image, s.boxes[j], cache_size, cache_context))
                corners = np.array([[s.boxes[j][0], s.boxes[j][1], 1], [s.boxes[j][2], s.boxes[j][3], 1]])
                self.boxes.append((corners @ m.T).reshape(-1).astype(np.float32))
        self.labels = np.array([c for _, _, c in self.items], np.int64)

    def __len__(self):
        return len(self.labels)

    def crop(self, k, rng=None, scale_jitter=0.1, shift_jitter=0.08):
        """The official 1.5× crop of face ``k``; with ``rng``, its box jittered in scale and position."""
        box = self.boxes[k].copy()
        if rng is not None:
            w, h = box[2] - box[0], box[3] - box[1]
            s = rng.uniform(1 - scale_jitter, 1 + scale_jitter)
            cx = (box[0] + box[2]) / 2 + rng.uniform(-shift_jitter, shift_jitter) * w
            cy = (box[1] + box[3]) / 2 + rng.uniform(-shift_jitter, shift_jitter) * h
            box = np.float32([cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2])
        return crop_face(self.crops[k], box, self.out_size, self.context)


def classifier_batch(cache, indices, rng=None):
    crops = []
    for k in indices:
        crop = cache.crop(k, rng)
        if rng is not None:
            a = photometric_distort(Annotated(crop, np.zeros((0, 4), np.float32), [], np.zeros(0, bool)), rng)
            if rng.random() < 0.5:
                a = horizontal_flip(a)
            crop = a.image
        crops.append(crop)
    return normalize_classifier(np.stack(crops)), cache.labels[np.asarray(indices)]


def balanced_indices(labels, count, rng):
    """``count`` indices drawn with replacement, each class equally likely."""
    classes = np.unique(labels)
    weights = np.zeros(len(labels))
    for c in classes:
        weights[labels == c] = 1.0 / (labels == c).sum() / len(classes)
    return rng.choice(len(labels), size=count, replace=True, p=weights)
