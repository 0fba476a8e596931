"""Training curves of a run folder: the logged loss every ``log_every`` iterations (train.log) and the
per-epoch validation recall (last.json), as one figure.

    python -m finetune.curves finetune/checkpoints/mobile_crowd_stage2 --out reports/figures/curve.png
"""
import argparse
import json
import re
import sys
from pathlib import Path

LOSS_LINE = re.compile(r'epoch (\d+) iter (\d+)/(\d+) loss ([\d.]+) \(cls ([\d.]+) loc ([\d.]+)\)')


def logged_losses(train_log):
    """[(iteration from the run's start, loss, cls, loc)] from the lines ``maskhub train`` logs; a resumed run
    logs the same iterations again after its restart, and the later lines win."""
    points = {}
    for line in Path(train_log).read_text(encoding='utf-8', errors='replace').splitlines():
        match = LOSS_LINE.search(line)
        if match:
            epoch, it, per_epoch = (int(v) for v in match.groups()[:3])
            points[(epoch - 1) * per_epoch + it] = tuple(float(v) for v in match.groups()[3:])
    return [(k, *points[k]) for k in sorted(points)]


def run_log(run_dir):
    """The run's log: train.log as training writes it, or train_log.txt, its name in a committed run
    folder (git ignores *.log)."""
    live = run_dir / 'train.log'
    return live if live.exists() or not (run_dir / 'train_log.txt').exists() else run_dir / 'train_log.txt'


def plot_run(run_dir, out, title=None):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    run_dir = Path(run_dir)
    losses = logged_losses(run_log(run_dir))
    history = json.loads((run_dir / 'last.json').read_text())['history']
    if not losses and not history:
        raise ValueError('%s: no logged iterations and no finished epoch' % run_dir)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if losses:
        its = [p[0] for p in losses]
        for column, label in ((1, 'total'), (2, 'classification'), (3, 'localisation')):
            left.plot(its, [p[column] for p in losses], label=label, linewidth=1)
        left.set_xlabel('iteration')
        left.set_ylabel('training loss (per logged window)')
        left.legend()
    epochs = [h['epoch'] for h in history]
    for band in ('<16', '16-32', '32-64', 'all'):
        # a band without faces in the val subset has no recall (None): left out of the plot
        recalls = [h['recall'][band] for h in history]
        if all(r is None for r in recalls):
            continue
        right.plot(epochs, [float('nan') if r is None else 100 * r for r in recalls], marker='o',
                   label='recall %s' % (band if band == 'all' else band + ' px'))
    right.set_xlabel('epoch')
    right.set_ylabel('val subset recall at score 0.5 (%)')
    right.legend()
    fig.suptitle(title or run_dir.name)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return Path(out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m finetune.curves', description=__doc__.split('\n\n')[0])
    parser.add_argument('run_dir', help='run folder of maskhub train (train.log or train_log.txt, last.json)')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument('--title')
    args = parser.parse_args(argv)
    try:
        print(plot_run(args.run_dir, args.out, args.title))
    except (OSError, ValueError, KeyError) as err:
        print('finetune.curves: error: %s' % err, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
