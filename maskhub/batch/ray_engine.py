"""Batch prediction on Ray Data: the same run folder as ``run_batch``, computed by a pool of actors.

    from maskhub.batch.ray_engine import RayOptions, run_ray
    run_ray('mobile', ['photos/', 'entrance.mp4'], 'runs/day1', RayOptions(address='auto', workers=4))

The driver expands the inputs exactly as the local engine does (``open_run``), splits long videos into
frame ranges, and hands the work units to ``Dataset.map_batches`` with a callable class: Ray keeps a
pool of ``workers`` actors, each loading one detector (any model, any backend) and predicting with
``threads_per_worker`` threads. The driver consumes the results as they stream back and, per output
block, writes ``parts/part-NNNNN.parquet`` (the predictions table's schema) and then the block's items
to ``journal.jsonl``. At the end ``finish_run`` writes predictions.csv/.parquet, errors.csv and
summary.json, so ``maskhub merge``, ``--resume`` and the dashboard treat the folder like a local run.

Faults: Ray restarts an actor that dies and retries its batch (Ray Data's actor defaults); the driver
keeps the first result of every work unit, so a retried batch cannot add rows twice. ``--resume``
skips items already in the journal and drops part files that the journal does not account for.
"""
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from maskhub.batch.inputs import WorkItem
from maskhub.batch.journal import JournalWriter, is_out_of_space
from maskhub.batch.outputs import write_table
from maskhub.batch.run import RunOptions, finish_run, open_run, out_of_space, process_item, run_options
from maskhub.errors import MaskhubError
from maskhub.io.tables import rows_to_dataframe
from maskhub.io.video import VideoError, frame_step, video_info

log = logging.getLogger(__name__)

RAY_REQUIREMENT = 'ray[data]==2.40.0'
PARTS = 'parts'
PART_SECONDS = 0.5
# fault injection for the tests: the first actor that finds this file removes it and exits mid-batch
CRASH_ONCE_ENV = 'MASKHUB_RAY_CRASH_ONCE'


class RayEngineError(MaskhubError):
    """Ray missing, a cluster that cannot be reached, a run that cannot complete: one line for the user."""


@dataclass
class RayOptions:
    address: str = None             # None: start Ray inside this process; 'auto' or HOST:PORT: join a cluster
    workers: int = None             # actors in the pool (default: the cluster's CPUs // threads_per_worker)
    threads_per_worker: int = 1     # detector threads in each actor (= the CPUs Ray reserves for it)
    batch_size: int = 4             # work units per actor call: small batches balance and retry cheaply
    video_chunk_frames: int = 64    # sampled frames per video work unit
    part_items: int = 64            # items per part file (and per journal fsync); at least every PART_SECONDS
    num_cpus: int = None            # CPUs of the Ray started in-process (default: all)


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise RayEngineError("the ray engine needs Ray Data (%s): pip install '%s'" % (err, RAY_REQUIREMENT)) from None
    return ray


def _check_reachable(address, timeout_s=5.0):
    host, sep, port = address.rpartition(':')
    if not sep or not port.isdigit():
        raise RayEngineError("bad --ray-address %r: use 'auto' or HOST:PORT" % address)
    try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RayEngineError('cannot reach the Ray cluster at %s: %s' % (address, err.strerror or err)) from None


def _is_loopback(address):
    return address in (None, 'local') or address.rpartition(':')[0] in ('127.0.0.1', 'localhost')


_joined = {}      # the cluster address this process joined (Ray allows one connection per process)


def _connection_id(ray):
    ctx = ray.get_runtime_context()
    return ctx.get_node_id(), ctx.get_job_id()


def connect(address=None, num_cpus=None):
    """Join the cluster at ``address`` ('auto', HOST:PORT), or start Ray in-process when None.

    Reuses a Ray the caller already started (``ray.init(num_cpus=2)``) and a cluster this process already
    joined: the connection stays open for later runs (Ray Data 2.40 cannot reconnect to the same cluster
    within one process). Returns (ray, started_here): True when a Ray was started for this run only.
    """
    if _is_loopback(address) and 'ray' not in sys.modules:
        # Ray replaces 127.0.0.1 by the machine's network address unless told that this node is alone;
        # a single-machine Ray then also binds to loopback only (the setting is read when ray is imported)
        os.environ.setdefault('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')
    ray = import_ray()
    if ray.is_initialized():
        ours = _joined.get('job') == _connection_id(ray)
        if not ours or _joined['address'] == address:
            return ray, False            # the caller's Ray, or the cluster asked for
        ray.shutdown()                   # we joined another cluster before: leave it for this one
    _joined.clear()
    if address not in (None, 'auto', 'local'):
        _check_reachable(address)
    logging.getLogger('ray.data').setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    # actors import maskhub from the driver's checkout when it exists on their node, else their own install
    here = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(p for p in (here, os.environ.get('PYTHONPATH')) if p)
    local = address in (None, 'local')
    extra = {'_temp_dir': tempfile.mkdtemp(prefix='maskhub-ray-')} if local else {}   # short: socket paths
    try:
        ray.init(address=address or 'local', num_cpus=num_cpus if local else None,
                 include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={'env_vars': {'PYTHONPATH': pythonpath}}, **extra)
    except (ConnectionError, RuntimeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if 'Could not find any running Ray instance' in first:
            first = 'no running Ray cluster found (start one with `ray start --head`, or give --ray-address HOST:PORT)'
        raise RayEngineError('cannot connect to Ray at %s: %s' % (address, first)) from None
    if local:
        _started['temp_dir'] = extra['_temp_dir']
        return ray, True
    _joined.update(address=address, job=_connection_id(ray))
    return ray, False


_started = {}     # the temporary folder of the Ray this process started for a run


def shutdown_started(ray):
    """Stop the Ray a run started (``stop_local_ray`` with the run's temporary folder)."""
    stop_local_ray(ray, _started.pop('temp_dir', None))


def stop_local_ray(ray, temp_dir=None):
    """``ray.shutdown()``, then end any process of that Ray still alive a few seconds later (Ray 2.40's
    dashboard agent can outlive its raylet), found by the Ray's own ``temp_dir`` in its command line, and
    remove the folder."""
    ray.shutdown()
    if not temp_dir:
        return
    marker = '--temp-dir=%s' % temp_dir
    deadline = time.time() + 5
    while True:
        left = [pid for pid in _pids_with(marker) if pid != os.getpid()]
        if not left or time.time() > deadline:
            break
        time.sleep(0.5)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
            log.debug('ended Ray process %d left by this run', pid)
        except OSError:
            pass
    shutil.rmtree(temp_dir, ignore_errors=True)


def _pids_with(marker):
    pids = []
    for entry in os.listdir('/proc') if os.path.isdir('/proc') else []:
        if entry.isdigit():
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as f:
                    if marker.encode() in f.read():
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def plan_units(items, opts, chunk_frames):
    """Work units: one per image; a video with a known frame count becomes frame ranges of
    ``chunk_frames`` sampled frames (aligned to the sampling step, so the frames are those of a whole pass)."""
    units = []
    for item in items:
        ranges = [None]
        if item.kind == 'video' and not opts.save_video:      # an annotated video needs one worker
            try:
                count, fps = video_info(item.path)
            except VideoError:
                count = None             # the worker records the error, as the local engine does
            if count:
                span = frame_step(fps, opts.video_every_n, opts.video_fps) * max(1, chunk_frames)
                if count > span:
                    ranges = [(s, s + span) for s in range(0, count, span)]
                    ranges[-1] = (ranges[-1][0], -1)     # the last range runs to the real end
        for i, r in enumerate(ranges):
            units.append({'key': item.path if r is None else '%s#%d' % (item.path, i), 'path': item.path,
                          'kind': item.kind, 'start': -1 if r is None else r[0], 'stop': -1 if r is None else r[1],
                          'parts': len(ranges)})
    return units


LIST_FIELDS = ('rows', 'images', 'errors')
SUM_FIELDS = ('units', 'units_without_face', 'detect_ms', 'classify_ms')


def join_video_entries(chunks):
    """The journal entry of a video from the entries of its frame ranges (in any order): what a whole-video
    pass records (``process_item``): the frames' rows and per-image records in frame order, their errors."""
    chunks = sorted(chunks, key=lambda e: e.get('frames', [0])[0])
    ok = [c for c in chunks if not c.get('failed')]
    if not ok:                       # the same video error from every range: report it once, as one item
        entry = dict(chunks[0])
    else:
        entry = dict(ok[0], failed=False)
        entry.update({k: [x for c in ok for x in c.get(k, [])] for k in LIST_FIELDS})
        entry['errors'] += [x for c in chunks if c.get('failed') for x in c.get('errors', [])]
        entry.update({k: sum(c.get(k, 0) for c in ok) for k in SUM_FIELDS})
    entry.pop('frames', None)
    return entry


class PredictActor:
    """A Ray Data worker: one detector, loaded once, predicting batches of work units."""

    def __init__(self, model, detector_kwargs, opts, artifacts=None, crash_once=None, cwd=None):
        threads = detector_kwargs.get('threads')
        if threads and 'paddle' not in sys.modules:
            # Ray Data calls the actor from a thread of its own, and OpenMP gives a new thread the count of
            # OMP_NUM_THREADS (read when Paddle loads), not the count Paddle sets here: make them agree
            os.environ['OMP_NUM_THREADS'] = str(threads)
        from maskhub.inference.loader import load_detector
        if cwd and os.path.isdir(cwd):
            os.chdir(cwd)            # relative input paths mean what they meant to the driver
        self.detector = load_detector(model, **detector_kwargs)
        self.opts = opts
        self.artifacts = artifacts   # annotated images / crops, written by the worker into the run folder
        self.crash_once = crash_once

    def _maybe_crash(self):
        if self.crash_once:
            try:
                os.rename(self.crash_once, self.crash_once + '.crashed')   # only one actor wins the rename
            except OSError:
                return
            Path(self.crash_once + '.crashed').write_text(str(os.getpid()))
            os._exit(3)

    def __call__(self, batch):
        import numpy as np
        keys, entries = [], []
        n = len(batch['key'])
        for i, (key, path, kind, start, stop) in enumerate(zip(batch['key'], batch['path'], batch['kind'],
                                                               batch['start'], batch['stop'])):
            if i == min(1, n - 1):
                self._maybe_crash()          # mid-batch: one unit done, the rest not
            frames = None if start < 0 else (int(start), None if stop < 0 else int(stop))
            entry = process_item(self.detector, WorkItem(str(path), str(kind)), self.opts, self.artifacts, frames)
            entry['model_name'] = self.detector.name
            keys.append(str(key))
            entries.append(json.dumps(entry))
        return {'key': np.array(keys, dtype=object), 'entry': np.array(entries, dtype=object)}


def _write_part(parts_dir, index, rows):
    """parts/part-NNNNN.parquet with the predictions table's schema, written whole or not at all."""
    stem = 'part-%05d' % index
    write_table(rows_to_dataframe(rows), parts_dir, stem, formats=('parquet',))
    return stem + '.parquet'


def _reconcile_parts(parts_dir, entries):
    """After an interruption: keep only part files (and their rows) that journal entries account for."""
    journaled = {}
    for e in entries.values():
        if e.get('part'):
            journaled.setdefault(e['part'], set()).add(e['path'])
    for f in sorted(parts_dir.glob('part-*')):
        if f.name not in journaled:
            f.unlink()
            continue
        table = pd.read_parquet(f)
        keep = table['path'].isin(journaled[f.name])
        if not keep.all():
            rows_to_dataframe(table[keep].to_dict('records')).to_parquet(f, index=False)


def _record(done, parts_dir, next_part, journal, entries):
    """Finished items -> one part file with their faces, then their journal lines (one fsync); returns the next
    part number. Called for groups of items: a part file and an fsync cost milliseconds, an item far less."""
    rows = [r for e in done for r in e['rows']]
    part = _write_part(parts_dir, next_part, rows) if rows else None
    for entry in done:
        for err in entry['errors']:
            log.warning('%s: %s', err['path'], err['error'])
        entry['part'] = part if entry['rows'] else None
        entries[entry['path']] = entry
    journal.append_many(done)
    return next_part + (1 if rows else 0)


def run_ray(model, inputs, out_dir, opts=None, ray_opts=None, backend='auto', use_gpu=False, **detector_kwargs):
    """Predict every item of ``inputs`` into ``out_dir`` on Ray; returns the summary dict (as ``run_batch``)."""
    opts = opts or RunOptions()
    ray_opts = ray_opts or RayOptions()
    threads = max(1, int(ray_opts.threads_per_worker or 1))
    if not str(model).startswith('paddlehub:'):
        from maskhub.inference.registry import resolve_model_dir
        resolve_model_dir(model)             # a wrong model fails here, with its message, not in every actor
        if os.path.isdir(str(model)):
            model = os.path.abspath(str(model))
    ray, started_here = connect(ray_opts.address, ray_opts.num_cpus)
    try:
        kwargs = dict(use_gpu=use_gpu) if str(model).startswith('paddlehub:') else \
            dict(detector_kwargs, backend=backend, use_gpu=use_gpu, threads=threads)
        return _run(ray, model, inputs, out_dir, opts, ray_opts, threads, kwargs)
    finally:
        if started_here:
            shutdown_started(ray)


def _run(ray, model, inputs, out_dir, opts, ray_opts, threads, detector_kwargs):
    run = open_run(inputs, out_dir, opts)
    parts_dir = run.out / PARTS
    parts_dir.mkdir(exist_ok=True)
    _reconcile_parts(parts_dir, run.entries)
    next_part = 1 + max([int(f.stem.split('-')[1]) for f in parts_dir.glob('part-*.parquet')] or [-1])
    units = plan_units(run.todo, opts, ray_opts.video_chunk_frames)
    cpus = int(ray.cluster_resources().get('CPU', 1))
    workers = ray_opts.workers or max(1, cpus // threads)
    log.info('ray: %d items as %d work units on %d worker(s) x %d thread(s) (cluster CPUs: %d)',
             len(run.todo), len(units), workers, threads, cpus)
    t0 = time.perf_counter()
    model_name, driver_s = None, 0.0      # driver_s: time the driver spends on results (bounds a cluster's rate)
    if units:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False             # ours below counts items, not blocks
        batch_size = max(1, ray_opts.batch_size)
        ds = ray.data.from_items(units, override_num_blocks=max(1, -(-len(units) // batch_size)))
        ds = ds.map_batches(PredictActor, batch_size=batch_size, batch_format='numpy', concurrency=workers,
                            num_cpus=threads, num_gpus=1 if detector_kwargs.get('use_gpu') else None,
                            fn_constructor_kwargs={'model': model, 'detector_kwargs': detector_kwargs,
                                                   'opts': opts, 'crash_once': os.environ.get(CRASH_ONCE_ENV),
                                                   'cwd': os.getcwd(), 'artifacts': run.artifacts})
        expected = {u['key']: u for u in units}
        seen, pending = set(), {}
        ready, flushed = [], time.perf_counter()     # finished items not yet in a part file / the journal
        bar = tqdm(total=len(run.todo), desc='predict (ray, %d workers)' % workers, unit='item',
                   disable=not opts.progress)
        try:
            with JournalWriter(run.journal_path) as journal:
                for block in ds.iter_batches(batch_size=None, batch_format='numpy'):
                    t_block = time.perf_counter()
                    done = []
                    for key, text in zip(block['key'], block['entry']):
                        if key in seen:
                            log.warning('ray: dropped a second result for %s (retried batch)', key)
                            continue
                        seen.add(key)
                        entry = json.loads(text)
                        model_name = entry.pop('model_name', model_name)
                        unit = expected[key]
                        if unit['parts'] == 1:
                            entry.pop('frames', None)
                            done.append(entry)
                            continue
                        chunks = pending.setdefault(unit['path'], [])
                        chunks.append(entry)
                        if len(chunks) == unit['parts']:
                            done.append(join_video_entries(pending.pop(unit['path'])))
                    ready.extend(done)
                    if len(ready) >= ray_opts.part_items or (ready and time.perf_counter() - flushed > PART_SECONDS):
                        next_part = _record(ready, parts_dir, next_part, journal, run.entries)
                        bar.update(len(ready))
                        ready, flushed = [], time.perf_counter()
                    driver_s += time.perf_counter() - t_block
                if ready:
                    next_part = _record(ready, parts_dir, next_part, journal, run.entries)
                    bar.update(len(ready))
        except OSError as err:
            if is_out_of_space(err):
                raise out_of_space(run.out, len(run.entries), err) from None
            raise
        except ray.exceptions.RayError as err:
            first = str(err).strip().splitlines()[0]
            raise RayEngineError('the Ray run failed (%s); rerun with --resume to continue: %s'
                                 % (type(err).__name__, first)) from None
        finally:
            bar.close()
        lost = set(expected) - seen
        if lost:
            raise RayEngineError('%d work units did not come back from Ray (e.g. %s); rerun with --resume'
                                 % (len(lost), sorted(lost)[0]))
    # driver_busy_s: the driver's time on results in this run (what bounds a cluster's rate; bench --scaling)
    options = run_options(opts, model_name or str(model), inputs, run.artifacts, engine='ray',
                          ray_address=ray_opts.address, workers=workers, threads_per_worker=threads,
                          batch_size=ray_opts.batch_size, driver_busy_s=round(driver_s, 3))
    return finish_run(run.out, run.entries, run.started, options, time.perf_counter() - t0, opts.formats)
