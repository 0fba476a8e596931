"""Precision-recall curves as PNG (matplotlib, Agg backend: no display needed)."""
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402


def plot_pr_curves(curves, path, title):
    """``curves``: {legend: entry of ``coco.average_precision``}; plots precision up to each curve's max recall."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=100)
    for name, entry in curves.items():
        if not entry.get('precision'):
            continue
        recall = np.asarray(entry['recall_thresholds'])
        precision = np.asarray(entry['precision'])
        reached = recall <= entry['max_recall'] + 1e-9
        ax.plot(recall[reached], precision[reached], label='%s (AP %.1f)' % (name, 100 * entry['ap']))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left', fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
