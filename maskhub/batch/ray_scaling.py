"""Scaling benchmark of the batch engines: ``maskhub bench --scaling --report`` writes reports/scaling.md.

Runs the same image list through the local engine and through Ray with workers x threads covering the
same cores, each as its own ``maskhub predict`` process into a fresh run folder, and times every run
from the outside: this process watches the run's journal grow, which gives the start-up time (first
item done) and the steady rate (items/s between 10 % and 90 % of the items), both engines measured
the same way.
"""
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from maskhub.batch.journal import JOURNAL

REPO = Path(__file__).resolve().parents[2]
KAGGLE = REPO.parent / 'shared' / 'datasets' / 'face_mask' / 'kaggle' / 'images'


@dataclass
class Measured:
    label: str
    engine: str
    workers: int
    threads: int
    items: int
    total_s: float
    first_s: float
    steady_ips: float
    driver_busy_s: float = None
    rounds: list = None             # steady images/s of every round (the table shows the best)
    load1: float = None             # 1-minute load average when the run started
    model_ms: float = None          # detect + classify ms per image in the steady window, timed inside the worker

    @property
    def other_ms(self):
        """Wall ms per image in one worker that is not the model: reading, the engine, waiting for a core."""
        return 1e3 * self.workers / self.steady_ips - self.model_ms

    @property
    def total_ips(self):
        return self.items / self.total_s


def image_list(n, out_dir, source=None):
    """A list file of ``n`` real photos: the first n of ``source`` (default: shared Kaggle mask images),
    else the repository's examples/images repeated (as copies with distinct names). -> (list path, description)."""
    source = Path(source) if source else KAGGLE
    images = sorted(source.glob('*.jpg')) if source.is_dir() else []
    if len(images) >= n:
        described = '%d images of `%s` (first %d by name, sizes as stored)' % (n, _rel(source), n)
    else:
        examples = sorted((REPO / 'examples' / 'images').glob('*.jpg'))
        copies = Path(out_dir) / 'images'
        copies.mkdir(parents=True, exist_ok=True)
        images = []
        for i in range(n):
            dst = copies / ('%04d_%s' % (i, examples[i % len(examples)].name))
            dst.write_bytes(examples[i % len(examples)].read_bytes())
            images.append(dst)
        described = '%d copies of the %d images in `examples/images`' % (n, len(examples))
    listing = Path(out_dir) / 'images.txt'
    listing.write_text('\n'.join(str(p) for p in images[:n]) + '\n', encoding='utf-8')
    return listing, described


def _rel(path):
    try:
        return os.path.relpath(path, REPO)
    except ValueError:
        return str(path)


def timed_command(cmd, out_dir, n_items):
    """Run ``cmd`` (a ``maskhub predict`` process) while watching its journal grow, reading only the new bytes
    every 0.1 s from this process: (total_s, first_s, steady items/s, summary)."""
    journal = Path(out_dir) / JOURNAL
    samples, offset, lines = [], 0, 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while True:
        finished = proc.poll() is not None
        try:
            with open(journal, 'rb') as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            lines += chunk.count(b'\n')
        except OSError:
            pass
        samples.append((time.perf_counter(), lines))
        if finished:
            break
        time.sleep(0.1)
    total = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError('%s failed (exit %d): %s' % (' '.join(cmd[2:5]), proc.returncode,
                                                        proc.stderr.read().strip()[-500:]))

    def when(count):
        """(seconds, lines) of the first sample with at least ``count`` lines: Ray journals items in groups."""
        return next((t - t0, n) for t, n in samples if n >= count)

    (t_lo, lo), (t_hi, hi) = when(max(1, round(0.1 * n_items))), when(max(2, round(0.9 * n_items)))
    steady = (hi - lo) / (t_hi - t_lo) if t_hi > t_lo and hi > lo else float('nan')
    summary = json.loads((Path(out_dir) / 'summary.json').read_text())
    return total, when(1)[0], steady, summary, _model_ms(journal, lo, hi)


def _model_ms(journal, lo, hi):
    """Mean detector + classifier ms per image of the items finished in the steady window (journal order)."""
    entries = [json.loads(line) for line in journal.read_text(encoding='utf-8').splitlines()][lo:hi]
    units = sum(e.get('units', 0) for e in entries)
    return sum(e.get('detect_ms', 0.0) + e.get('classify_ms', 0.0) for e in entries) / max(1, units)


def measure(model, listing, n, engine, workers, threads, work, address=None, tag=''):
    """One configuration as the user runs it: ``python -m maskhub predict LIST --out DIR ...`` in its own process."""
    out = Path(work) / ('%s_w%d_t%d%s' % (engine, workers, threads, tag))
    cmd = [sys.executable, '-m', 'maskhub', 'predict', str(listing), '--out', str(out), '--model', model,
           '--no-progress']
    if engine == 'local':
        cmd += ['--threads', str(threads)]
        label = 'local engine, %d thread%s' % (threads, 's' if threads > 1 else '')
    else:
        cmd += ['--engine', 'ray', '--workers', str(workers), '--threads-per-worker', str(threads)]
        cmd += ['--ray-address', address] if address else []
        label = 'Ray, %d worker%s x %d thread%s' % (workers, 's' if workers > 1 else '', threads,
                                                   's' if threads > 1 else '')
    env_path = os.pathsep.join(p for p in (str(REPO), os.environ.get('PYTHONPATH')) if p)
    os.environ['PYTHONPATH'] = env_path          # the subprocess imports this checkout's maskhub
    total, first, steady, summary, model_ms = timed_command(cmd, out, n)
    return Measured(label, engine, workers, threads, summary['images'], total, first, steady,
                    summary['options'].get('driver_busy_s'), model_ms=model_ms), out


def same_tables(a, b):
    from maskhub.io.tables import read_predictions
    key = ['path', 'frame', 'id']
    ta = read_predictions(a).sort_values(key).reset_index(drop=True)
    tb = read_predictions(b).sort_values(key).reset_index(drop=True)
    return ta.shape == tb.shape and bool((ta[key + ['label']] == tb[key + ['label']]).all().all()) \
        and float((ta['confidence'] - tb['confidence']).abs().max() if len(ta) else 0.0) < 1e-4


def run_scaling(args):
    """``maskhub bench --scaling``: the first of --models, --scaling-images photos; writes scaling.md (+ .json)
    into --out, or into reports/ with --report."""
    from maskhub.inference.cpu import cpu_model
    cpu = cpu_model()
    args.model = args.models.split(',')[0]
    args.scaling_out = str((REPO / 'reports' if args.report else Path(args.out)) / 'scaling.md')
    cores = os.cpu_count() or 2
    plan = [('local', 1, cores), ('local', 1, 1), ('ray', 1, cores), ('ray', cores, 1), ('ray', 1, 1)]
    load_before = os.getloadavg()
    results, outs = [], {}
    rounds = max(1, getattr(args, 'scaling_rounds', 1))
    with tempfile.TemporaryDirectory(prefix='mh-scaling-') as work:
        listing, described = image_list(args.scaling_images, work, args.scaling_folder)
        runs = {}
        for r in range(rounds):
            # later rounds go in reverse order, so a slow phase of the shared machine hits different configs
            for engine, workers, threads in (plan if r % 2 == 0 else plan[::-1]):
                load1 = os.getloadavg()[0]
                m, out = measure(args.model, listing, args.scaling_images, engine, workers, threads, work,
                                 args.ray_address if engine == 'ray' else None, '_r%d' % r)
                m.load1 = round(load1, 2)
                outs[(engine, workers, threads, r)] = out
                runs.setdefault((engine, workers, threads), []).append(m)
                print('round %d  %-28s %6.1f s total, first item after %5.1f s, steady %6.2f images/s, model %.1f ms'
                      % (r + 1, m.label, m.total_s, m.first_s, m.steady_ips, m.model_ms))
        reference = outs[('local', 1, cores, 0)]
        equal = all(same_tables(out, reference) for out in outs.values())
    results = [max(runs[key], key=lambda m: m.steady_ips if m.steady_ips == m.steady_ips else -1.0) for key in plan]
    for m in results:
        m.rounds = ['%.2f (load %.1f)' % (x.steady_ips, x.load1) for x in runs[(m.engine, m.workers, m.threads)]]
    write_report(args, results, described, cores, cpu, load_before, os.getloadavg(), equal, auto_runtime())
    print('report: %s' % args.scaling_out)
    return 0


def auto_runtime():
    """(backend precision, reason) that --backend auto picks on this machine."""
    from maskhub.inference.runtimes import choose_runtime
    choice = choose_runtime()
    return '%s %s' % (choice.backend, choice.precision), choice.reason


def _find(results, engine, workers, threads):
    return next(m for m in results if (m.engine, m.workers, m.threads) == (engine, workers, threads))


def write_report(args, results, described, cores, cpu, load_before, load_after, equal, runtime=('?', '?')):
    local = _find(results, 'local', 1, cores)
    local1 = _find(results, 'local', 1, 1)
    ray_wide = _find(results, 'ray', cores, 1)
    ray_deep = _find(results, 'ray', 1, cores)
    ray_one = _find(results, 'ray', 1, 1)
    ratio = ray_wide.steady_ips / local.steady_ips
    best_local = max((local, local1), key=lambda m: m.steady_ips)
    ratio_best = ray_wide.steady_ips / best_local.steady_ips
    efficiency = ray_wide.steady_ips / (cores * ray_one.steady_ips)
    overhead_ms = 1e3 * (1 / ray_one.steady_ips - 1 / local1.steady_ips)
    other_added = ray_one.other_ms - local1.other_ms
    driver_ms = 1e3 * ray_wide.driver_busy_s / ray_wide.items
    ceiling = 1e3 / driver_ms if driver_ms > 0 else float('inf')
    best = max((ray_wide, ray_deep), key=lambda m: m.steady_ips)
    lines = [
        '# Batch prediction scaling: local engine and Ray Data (%s model)' % args.model, '',
        'Generated by `maskhub bench --scaling --report --scaling-images %d --scaling-rounds %d` on %s.'
        % (args.scaling_images, len(results[0].rounds), dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')), '',
        '- Machine: %s, %d cores; load average before / after: %.2f / %.2f (1-min). The background training '
        'job was paused (`bash /work/quiet.sh`), other jobs on the machine were not.' % (cpu, cores, load_before[0],
                                                                                     load_after[0]),
        '- Inputs: %s, one `.txt` list; shrink 0.5 (model default); runtime `--backend auto`, which on this CPU is '
        '%s (%s); no annotated images.' % (described, runtime[0], runtime[1]),
        '- Ray %s started by each Ray run on this machine\'s cores (`--engine ray` without an address), %s.'
        % (_ray_version(), 'actors on this machine' if not args.ray_address else 'cluster %s' % args.ray_address),
        '- Every run writes a full run folder (journal, tables, summary; Ray also its part files). Timing from the '
        'outside: *total* = command start to exit (imports, model loading, for Ray start-up and actors, included); '
        '*first item* = until the first journal line; *steady* = items/s between the journal samples where 10 % and '
        '90 % of the items were done (Ray journals items in groups: up to 64, at least every 0.5 s). '
        'Each run is its own `python -m maskhub predict` process; this process only watches its journal.',
        '- Each configuration ran %d time%s (alternating order); the table shows the round with the best steady '
        'rate, the last column every round\'s, because other jobs share these cores.' % (len(results[0].rounds),
                                                                                    's' if len(results[0].rounds) > 1 else ''),
        '- All %d runs gave the same table as the local %d-thread run (sorted by path, frame, face id): **%s**.'
        % (len(results) * len(results[0].rounds), cores, 'yes' if equal else 'NO'), '',
        '| engine | workers x threads | total s | first item s | total images/s | steady images/s | vs local %d threads '
        '| model ms / image | other ms / image | steady, every round |' % cores,
        '|---|---|---:|---:|---:|---:|---:|---:|---:|---|']
    for m in results:
        lines.append('| %s | %d x %d | %.1f | %.1f | %.2f | %.2f | %.2f× | %.1f | %.1f | %s |'
                     % (m.engine, m.workers, m.threads, m.total_s, m.first_s, m.total_ips, m.steady_ips,
                        m.steady_ips / local.steady_ips, m.model_ms, m.other_ms, ', '.join(m.rounds)))
    lines += ['', '*model ms / image*: detector + classifier time per image, measured inside the worker, over the '
              'items of the steady window (it grows when other jobs take the cores); *other ms / image* = '
              'workers / steady rate − model ms: reading and decoding the image, the engine, and waiting.']
    lines += [
        '', '## Against the target', '',
        '| target | measured | met |', '|---|---|---|',
        '| Ray, %d workers ≥ 0.9× the local engine (steady, same %d cores) | %.2f× (%.2f vs %.2f images/s) | %s |'
        % (cores, cores, ratio, ray_wide.steady_ips, local.steady_ips, 'yes' if ratio >= 0.9 else 'no'),
        ] + ([] if best_local is local else [
        '| the same against the faster local configuration (%s) | %.2f× (%.2f vs %.2f images/s) | %s |'
        % (best_local.label, ratio_best, ray_wide.steady_ips, best_local.steady_ips, 'yes' if ratio_best >= 0.9 else 'no')
        ]) + [
        '',
        '## Derived figures', '',
        '- Scaling efficiency of Ray from 1 to %d workers (1 thread each): %.2f (= %.2f / (%d × %.2f) images/s).'
        % (cores, efficiency, ray_wide.steady_ips, cores, ray_one.steady_ips),
        '- Per-item overhead Ray adds (1 worker x 1 thread against the local engine with 1 thread, steady): '
        '%+.1f ms per image of wall time (%.1f vs %.1f ms per image); of the time that is not the model, '
        '%+.1f ms per image (%.1f vs %.1f), which discounts how fast the cores happened to be in each run.'
        % (overhead_ms, 1e3 / ray_one.steady_ips, 1e3 / local1.steady_ips, other_added, ray_one.other_ms,
           local1.other_ms),
        '- Fixed cost until the first item is done, from the command\'s start: %.1f s for Ray (start-up, %d actors '
        'each importing Paddle and loading the model), %.1f s for the local engine (imports, model, first item).'
        % (ray_wide.first_s, cores, local.first_s),
        '- Driver time per item (reading results, part files, journal): %.2f ms, i.e. one driver could absorb '
        '~%.0f images/s before it becomes the bottleneck.' % (driver_ms, ceiling), '',
        '## Sizing workers on a node', '',
        '- Give Ray the node\'s cores as `workers x threads-per-worker = cores`. On this machine %s was faster '
        '(%.2f images/s, against %.2f for %s). A second worker gave %.2f× the images/s of one; a second thread '
        'gave %.2f× inside one Ray worker and %.2f× in the local engine: small (320x240) detector inputs leave '
        'threads of one image little to share, independent workers do not wait on each other.'
        % (best.label, best.steady_ips, (ray_deep if best is ray_wide else ray_wide).steady_ips,
           (ray_deep if best is ray_wide else ray_wide).label, ray_wide.steady_ips / ray_one.steady_ips,
           ray_deep.steady_ips / ray_one.steady_ips, local.steady_ips / local1.steady_ips),
        '- Use `--threads-per-worker 1` (the default) for CPU nodes and raise it only if memory is short: each actor '
        'holds its own detector and classifier runtimes and their memory.',
        '- Keep `--ray-batch-size` small (default 4): a batch is the unit that is retried when an actor dies and '
        'the unit of balancing between fast and slow nodes.', '',
        '## Estimate for N nodes', '',
        'Modelled, not measured (one machine here): images are read by the actors themselves (shared storage), '
        'only paths and result rows travel, so nodes add up until the single driver saturates (its time per item, '
        'measured above in the %d-worker run):' % cores,
        'throughput(N) ≈ min(N × %.2f images/s per %d-core node, %.0f images/s driver ceiling).'
        % (ray_wide.steady_ips, cores, ceiling), '',
        '| nodes (%d cores each) | estimated images/s | frames per day |' % cores, '|---:|---:|---:|']
    for n in (1, 2, 4, 8, 16, 32):
        est = min(n * ray_wide.steady_ips, ceiling)
        lines.append('| %d | %.0f | %.1f M |' % (n, est, est * 86400 / 1e6))
    lines += ['', 'Nodes with more cores scale the per-node figure by cores (one worker per core). The estimate '
              'ignores start-up (%.0f s here, paid once per run) and the network, and assumes nodes as fast as this one.'
              % ray_wide.first_s]
    Path(args.scaling_out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.scaling_out).write_text('\n'.join(lines) + '\n', encoding='utf-8')
    (Path(args.scaling_out).with_suffix('.json')).write_text(json.dumps([vars(m) for m in results], indent=2))


def _ray_version():
    try:
        import ray
        return ray.__version__
    except ImportError:
        return '(not installed)'
