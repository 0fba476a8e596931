"""Evaluation sets: a data spec (``maskhub.data.sources``) and an even subset of it."""
import numpy as np

from maskhub.data.sources import load_data


def load_samples(spec, split_file=None, images_root=None, check_images=False):
    """The ``val`` part of a data spec: 'voc:DIR', 'wider:GT_FILE[:IMAGES]', 'yaml:FILE', 'dev:wider-val', ...
    (``check_images``: fail up front when an annotated image is missing, see ``load_data``)."""
    return load_data(spec, 'val', split_file, images_root, check_images)


def spread_subset(samples, max_images):
    """At most ``max_images`` samples spread evenly over the list (the lists are grouped by source or
    event, so the first N would be one event)."""
    if not max_images or max_images >= len(samples):
        return list(samples)
    picks = np.linspace(0, len(samples) - 1, max_images).round().astype(int)
    return [samples[i] for i in picks]
