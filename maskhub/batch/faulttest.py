"""Batch fault test: a folder of real photos with odd and corrupt entries, a ``kill -9`` of
``maskhub predict`` at a random point, ``--resume``, and the checks that nothing was lost or doubled.

    python -m maskhub.batch.faulttest --inputs 1000 --odd-fraction 0.01 --kills 1 --report reports/batch_faults.md

1. builds ``--inputs`` inputs: the example and test photos, each copy resized / flipped differently
   (so every input has its own predictions), plus ``--odd-fraction`` odd entries cycling through an empty
   file, a truncated JPEG, text named .jpg, a folder named x.jpg, a symlink loop, a broken symlink, a FIFO,
   a PNG header claiming 30000x30000, and greyscale / 16-bit / palette PNGs (odd but valid);
2. a clean run (``maskhub predict DIR --out clean``);
3. a faulted run: ``maskhub predict`` is killed with SIGKILL when its journal reaches a random number of
   items (``--kills`` times, each followed by ``--resume`` that is killed again), then a last ``--resume``;
4. checks: every input exactly once in images.csv, images.csv and predictions equal to the clean run,
   the journal's state at each kill (items, partial last line) and what ``--resume`` quarantined.

Every process runs on this machine; nothing is sent anywhere.
"""
import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from maskhub.batch.journal import JOURNAL, QUARANTINE
from maskhub.inference.registry import REPO_ROOT
from maskhub.io.images import png_header_only

ODD_KINDS = ('empty', 'truncated_jpeg', 'text', 'folder_named_jpg', 'symlink_loop', 'broken_symlink', 'fifo',
             'png_header_30000', 'grey_png', 'deep16_png', 'palette_png')


def source_photos():
    photos = sorted((REPO_ROOT / 'examples' / 'images').glob('*.jpg'))
    photos += sorted((REPO_ROOT / 'tests' / 'data' / 'reference' / 'images').glob('*.jpg'))
    if not photos:
        raise FileNotFoundError('no photos in examples/images or tests/data/reference/images')
    return photos


def make_odd(path, kind, photo):
    from PIL import Image
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated_jpeg':
        data = Path(photo).read_bytes()
        path.write_bytes(data[:len(data) // 3])
    elif kind == 'text':
        path.write_text('not an image, only a name that says so')
    elif kind == 'folder_named_jpg':
        path.mkdir()
    elif kind == 'symlink_loop':
        os.symlink(path.name, path)
    elif kind == 'broken_symlink':
        os.symlink(path.name + '.missing', path)
    elif kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'png_header_30000':
        path.with_suffix('.png').write_bytes(png_header_only(30000, 30000))
        return path.with_suffix('.png')
    else:
        image = cv2.imread(str(photo))
        target = path.with_suffix('.png')
        if kind == 'grey_png':
            cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        elif kind == 'deep16_png':
            cv2.imwrite(str(target), image.astype(np.uint16) * 257)
        else:
            Image.fromarray(image[:, :, ::-1]).quantize(64).save(target)
        return target
    return path


def build_inputs(folder, count, odd_fraction, seed):
    """-> (input folder, {input path: kind}) with ``count`` entries, about ``odd_fraction`` of them odd."""
    rng = random.Random(seed)
    folder = Path(folder)
    photos = source_photos()
    images = [cv2.imread(str(p)) for p in photos]
    n_odd = max(1, round(count * odd_fraction)) if odd_fraction > 0 else 0
    odd_at = set(rng.sample(range(count), n_odd))
    kinds = {}
    for i in range(count):
        sub = folder / ('%03d' % (i // 100))
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / ('img_%05d.jpg' % i)
        if i in odd_at:
            kind = ODD_KINDS[len([j for j in odd_at if j < i]) % len(ODD_KINDS)]
            path = make_odd(path, kind, photos[i % len(photos)])
            kinds[str(path)] = kind
            continue
        image = images[i % len(images)]
        scale = 0.6 + 0.4 * rng.random()
        image = cv2.resize(image, (max(32, int(image.shape[1] * scale)), max(32, int(image.shape[0] * scale))))
        if rng.random() < 0.5:
            image = image[:, ::-1]
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        kinds[str(path)] = 'photo'
    return folder, kinds


def predict_command(folder, out, threads, resume=False):
    cmd = [sys.executable, '-m', 'maskhub', 'predict', str(folder), '--out', str(out), '--no-progress',
           '--threads', str(threads)]
    return cmd + (['--resume'] if resume else [])


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                                                          if p])
    return env


def _journal_lines(path):
    try:
        return path.read_bytes().count(b'\n')
    except OSError:
        return 0


def run_and_kill(cmd, journal, kill_at_items, timeout_s):
    """Run ``cmd`` and SIGKILL it once ``journal`` has ``kill_at_items`` lines (or it exits first)."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if _journal_lines(journal) >= kill_at_items:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.005)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def journal_state(path):
    data = path.read_bytes() if path.exists() else b''
    tail = data[data.rfind(b'\n') + 1:] if data else b''
    return {'complete_lines': data.count(b'\n'), 'partial_tail_bytes': len(tail)}


def sorted_table(path, keys):
    df = pd.read_csv(path)
    return df.sort_values(keys).reset_index(drop=True)


def run_fault_test(work, count=1000, odd_fraction=0.01, kills=1, seed=0, threads=1, timeout_s=1800):
    """The whole test in ``work``; returns a dict of figures and check results."""
    rng = random.Random(seed + 1)
    work = Path(work)
    folder, kinds = build_inputs(work / 'inputs', count, odd_fraction, seed)
    clean, faulted = work / 'clean', work / 'faulted'
    t0 = time.perf_counter()
    clean_proc = subprocess.run(predict_command(folder, clean, threads), env=_env(), capture_output=True, text=True,
                                timeout=timeout_s)
    clean_s = time.perf_counter() - t0
    if clean_proc.returncode not in (0, 1):
        raise RuntimeError('clean run failed (exit %d): %s' % (clean_proc.returncode, clean_proc.stderr[-2000:]))
    kill_log = []
    t0 = time.perf_counter()
    for k in range(kills):
        done = _journal_lines(faulted / JOURNAL)
        target = rng.randint(done + 1, max(done + 1, count - 1))
        killed = run_and_kill(predict_command(folder, faulted, threads, resume=k > 0), faulted / JOURNAL, target,
                              timeout_s)
        kill_log.append({'kill_at_items': target, 'killed': killed, **journal_state(faulted / JOURNAL)})
    final = subprocess.run(predict_command(folder, faulted, threads, resume=True), env=_env(), capture_output=True,
                           text=True, timeout=timeout_s)
    faulted_s = time.perf_counter() - t0
    images = pd.read_csv(faulted / 'images.csv')
    clean_images = sorted_table(clean / 'images.csv', ['path', 'frame'])
    faulted_images = images.sort_values(['path', 'frame']).reset_index(drop=True)
    expected_paths = {os.path.normpath(p) for p in kinds}
    counts = images['path'].value_counts()
    quarantine = faulted / QUARANTINE
    checks = {
        'every input exactly once in images.csv': set(images['path']) == expected_paths and int(counts.max()) == 1,
        'images.csv equal to the clean run': faulted_images.equals(clean_images),
        'predictions equal to the clean run': sorted_table(faulted / 'predictions.csv', ['path', 'id']).equals(
            sorted_table(clean / 'predictions.csv', ['path', 'id'])),
        'final --resume exit code 1 (odd entries reported)': final.returncode == 1,
    }
    odd_rows = images[images['path'].isin([os.path.normpath(p) for p, k in kinds.items() if k != 'photo'])]
    return {'inputs': count, 'odd': sum(1 for k in kinds.values() if k != 'photo'), 'kills': kill_log,
            'clean_s': clean_s, 'faulted_s': faulted_s, 'checks': checks,
            'status_counts': images['status'].value_counts().to_dict(),
            'odd_rows': sorted(zip([kinds.get(p, kinds.get(os.path.normpath(p), '?')) for p in odd_rows['path']],
                                   odd_rows['status'], odd_rows['error'].fillna(''))),
            'quarantined_lines': len(quarantine.read_text().splitlines()) if quarantine.exists() else 0,
            'faces': int(len(pd.read_csv(faulted / 'predictions.csv')))}


def render(result, args):
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    lines = ['## Batch fault test, %s' % date, '',
             '- command: `python -m maskhub.batch.faulttest %s`' % ' '.join(sys.argv[1:]),
             '- %d inputs (%d odd or corrupt), `maskhub predict --threads %d`; clean run %.0f s, faulted runs '
             '(kills + resumes) %.0f s in all; %d faces'
             % (result['inputs'], result['odd'], args.threads, result['clean_s'], result['faulted_s'], result['faces']),
             '- images.csv rows by status: %s' % ', '.join('%s %d' % kv for kv in sorted(result['status_counts'].items())),
             '- lines `--resume` quarantined (cut short by a kill): %d' % result['quarantined_lines'], '',
             '| kill | SIGKILL when the journal had | killed | complete lines after | partial last line (bytes) |',
             '|---:|---:|---|---:|---:|']
    for i, k in enumerate(result['kills'], 1):
        lines.append('| %d | %d items | %s | %d | %d |' % (i, k['kill_at_items'], 'yes' if k['killed'] else
                                                          'no (finished first)', k['complete_lines'],
                                                          k['partial_tail_bytes']))
    lines += ['', '| check | result |', '|---|---|']
    lines += ['| %s | %s |' % (name, 'pass' if ok else '**FAIL**') for name, ok in result['checks'].items()]
    lines += ['', 'Odd entries and the row each got:', '']
    lines += ['- %s: %s%s' % (kind, status, ' (%s)' % error if error else '') for kind, status, error in
              result['odd_rows']]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m maskhub.batch.faulttest', description=__doc__.split('\n')[0])
    parser.add_argument('--inputs', type=int, default=1000)
    parser.add_argument('--odd-fraction', type=float, default=0.01)
    parser.add_argument('--kills', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--work', default=None, help='scratch folder (default: a temporary one, removed after)')
    parser.add_argument('--report', default=None, help='markdown file to append the figures to')
    args = parser.parse_args(argv)
    if not 2 <= args.inputs <= 100_000 or args.kills < 0:
        parser.error('--inputs must be in 2..100000, --kills >= 0')
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix='maskhub-faulttest-'))
    try:
        result = run_fault_test(work, args.inputs, args.odd_fraction, args.kills, args.seed, args.threads)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    text = render(result, args)
    print(text)
    if args.report:
        report = Path(args.report)
        header = '' if report.exists() else ('# Batch runs under faults\n\nWritten by `python -m maskhub.batch.faulttest` '
                                             '(maskhub/batch/faulttest.py).\n\n')
        with open(report, 'a', encoding='utf-8') as f:
            f.write(header + text + '\n')
    return 0 if all(result['checks'].values()) else 1


if __name__ == '__main__':
    sys.exit(main())
