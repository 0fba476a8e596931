"""Density prior boxes, laid out as Paddle's ``density_prior_box`` (density 1, ratio 1) does.

Per level: cells in row-major order, within a cell one square prior per fixed size, centred at
``(x + 0.5) * step``, normalised by the network input size and clamped to [0, 1] (Paddle's kernel
clamps even with ``clip=False``). Computed in float64 and rounded to float32, which matches the
official runtime bit for bit.
"""
from functools import lru_cache

import numpy as np


def feature_sizes(input_h, input_w, strides):
    """Feature-map sizes of each stride: every stride-2 stage rounds up (3×3 conv, pad 1)."""
    sizes, h, w, s = {}, input_h, input_w, 1
    for stride in sorted(strides):
        while s < stride:
            h, w, s = -(-h // 2), -(-w // 2), s * 2
        sizes[stride] = (h, w)
    return [sizes[stride] for stride in strides]


@lru_cache(maxsize=64)
def _priors_cached(input_h, input_w, levels):
    strides = [stride for stride, _ in levels]
    boxes = []
    for (stride, sizes), (fh, fw) in zip(levels, feature_sizes(input_h, input_w, strides)):
        cy, cx = np.meshgrid((np.arange(fh) + 0.5) * stride, (np.arange(fw) + 0.5) * stride, indexing='ij')
        half = np.asarray(sizes, np.float64)[None, None, :] / 2.0
        level = np.stack([np.maximum((cx[..., None] - half) / input_w, 0.0),
                          np.maximum((cy[..., None] - half) / input_h, 0.0),
                          np.minimum((cx[..., None] + half) / input_w, 1.0),
                          np.minimum((cy[..., None] + half) / input_h, 1.0)], axis=-1)
        boxes.append(level.reshape(-1, 4))
    out = np.concatenate(boxes).astype(np.float32)
    out.setflags(write=False)
    return out


def density_priors(input_h, input_w, levels):
    """Priors [P, 4] (x1, y1, x2, y2) normalised, for ``levels`` = [(stride, (size, ...)), ...]."""
    return _priors_cached(int(input_h), int(input_w), tuple((int(s), tuple(float(v) for v in z)) for s, z in levels))


def level_layout(input_h, input_w, levels):
    """[(stride, sizes, first prior row, cells)] per level, in output order."""
    out, start = [], 0
    for (stride, sizes), (fh, fw) in zip(levels, feature_sizes(input_h, input_w, [s for s, _ in levels])):
        out.append((stride, sizes, start, fh * fw))
        start += fh * fw * len(sizes)
    return out


def level_rows(input_h, input_w, levels, strides):
    """slice of the prior rows that the levels at ``strides`` (adjacent in output order) occupy."""
    chosen = [(start, start + cells * len(sizes)) for stride, sizes, start, cells in
              level_layout(input_h, input_w, levels) if stride in set(strides)]
    if len(chosen) != len(set(strides)) or any(a[1] != b[0] for a, b in zip(chosen, chosen[1:])):
        raise ValueError('levels at strides %s: not adjacent levels of %s' % (list(strides), [s for s, _ in levels]))
    return slice(chosen[0][0], chosen[-1][1])


def num_priors(input_h, input_w, levels):
    return sum(cells * len(sizes) for _, sizes, _, cells in level_layout(input_h, input_w, levels))
