"""The Ray engine against a real local Ray cluster (``ray start --head`` on 127.0.0.1, 2 CPUs) and an
in-process ``ray.init(num_cpus=2)``: same answer as the local engine, bad items as error rows, an actor
killed mid-run, an interrupted run resumed, clear errors for an unreachable cluster or a missing Ray.

One cluster serves the whole module (Ray takes seconds to start on 2 cores); the local engine's run of
the same inputs is computed once as the reference.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd
import pyarrow.parquet as pq
import pytest

# single-machine Ray on loopback only; read when ray is imported, so before anything imports it
os.environ.setdefault('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')
ray = pytest.importorskip('ray')

from maskhub.batch.ray_engine import (CRASH_ONCE_ENV, RayEngineError, RayOptions, import_ray, run_ray,  # noqa: E402
                                      stop_local_ray)
from maskhub.batch.run import RunOptions, run_batch  # noqa: E402
from maskhub.cli import main as cli  # noqa: E402
from maskhub.dashboard.runs import load_run  # noqa: E402
from maskhub.io.tables import read_predictions  # noqa: E402
from conftest import REPO, real_images  # noqa: E402

SORT = ['path', 'frame', 'id']
TIMING_KEYS = {'elapsed_s', 'mean_detect_ms', 'mean_classify_ms', 'started_at', 'finished_at', 'options', 'files'}


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def cluster():
    """``ray start --head --block`` on 127.0.0.1 with 2 CPUs; stopped by signalling the process group it leads."""
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix='mhray')          # short: Ray's socket paths must fit in 107 bytes
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
               OMP_NUM_THREADS='1')
    ray_cli = str(Path(sys.executable).with_name('ray'))
    proc = subprocess.Popen([ray_cli, 'start', '--head', '--block', '--node-ip-address=127.0.0.1', '--port=%d' % port,
                             '--num-cpus=2', '--include-dashboard=false', '--disable-usage-stats',
                             '--temp-dir=%s' % temp_dir], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    address = '127.0.0.1:%d' % port
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail('ray start --head did not come up on %s' % address)
                time.sleep(0.5)
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _video(path, image, frames=10):
    frame = cv2.resize(cv2.imread(str(image)), (400, 300))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (400, 300))
    for i in range(frames):
        writer.write(cv2.flip(frame, 1) if i % 2 else frame)
    writer.release()


@pytest.fixture(scope='module')
def inputs(tmp_path_factory, example_images):
    """Real photos, a 10-frame video and bad items (empty, truncated, not an image, broken video, missing)."""
    d = tmp_path_factory.mktemp('ray_inputs')
    images = real_images(example_images, 4)
    for p in images:
        shutil.copy(p, d / p.name)
    _video(d / 'clip.avi', images[0])
    (d / 'bad').mkdir()
    (d / 'bad' / 'empty.jpg').write_bytes(b'')
    data = images[1].read_bytes()
    (d / 'bad' / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (d / 'bad' / 'notes.jpg').write_text('this is not an image')
    (d / 'bad' / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 100)
    return [str(d), str(d / 'missing.jpg')]


OPTS = dict(video_every_n=2, progress=False)


@pytest.fixture(scope='module')
def local_run(tmp_path_factory, inputs, mobile_detector):
    out = tmp_path_factory.mktemp('local') / 'run'
    run_batch(mobile_detector, inputs, out, RunOptions(**OPTS))
    return out


def _table(run_dir):
    return read_predictions(run_dir).sort_values(SORT).reset_index(drop=True)


def _errors(run_dir):
    e = pd.read_csv(Path(run_dir) / 'errors.csv')
    return sorted(zip(e['path'], e['error']))


def _assert_same_run(ray_dir, local_dir):
    """The Ray folder answers like the local one: table (timing aside: it has none), errors, summary counts."""
    pd.testing.assert_frame_equal(_table(ray_dir), _table(local_dir), check_exact=False, rtol=1e-5)
    assert _errors(ray_dir) == _errors(local_dir)
    images = [pd.read_parquet(Path(d) / 'images.parquet').sort_values(['path', 'frame', 'status'])
              .reset_index(drop=True) for d in (ray_dir, local_dir)]
    pd.testing.assert_frame_equal(*images)                 # the per-input table: one row per image / frame
    ray_summary = json.loads((Path(ray_dir) / 'summary.json').read_text())
    local_summary = json.loads((Path(local_dir) / 'summary.json').read_text())
    assert {k: v for k, v in ray_summary.items() if k not in TIMING_KEYS} == \
        {k: v for k, v in local_summary.items() if k not in TIMING_KEYS}
    assert ray_summary['options']['engine'] == 'ray'
    # the streamed part files hold exactly the final table's rows, with its schema
    parts = sorted((Path(ray_dir) / 'parts').glob('part-*.parquet'))
    schema = pq.read_schema(Path(local_dir) / 'predictions.parquet').remove_metadata()
    assert parts and all(pq.read_schema(p).remove_metadata().equals(schema) for p in parts)
    streamed = pd.concat([pd.read_parquet(p) for p in parts]).sort_values(SORT).reset_index(drop=True)
    pd.testing.assert_frame_equal(streamed, _table(ray_dir), check_dtype=False)
    journal = [json.loads(line) for line in (Path(ray_dir) / 'journal.jsonl').read_text().splitlines()]
    local_journal = (Path(local_dir) / 'journal.jsonl').read_text().splitlines()
    assert len(journal) == len({e['path'] for e in journal}) == len(local_journal)   # one entry per item


def test_cli_on_cluster_equals_local_run(tmp_path, cluster, inputs, local_run):
    out = tmp_path / 'ray'
    code = cli(['predict', *inputs, '--out', str(out), '--engine', 'ray', '--ray-address', cluster,
                '--workers', '2', '--threads-per-worker', '1', '--every-n', '2', '--video-chunk-frames', '2',
                '--no-progress'])
    assert code == 1                                       # bad items are reported, the rest is done
    _assert_same_run(out, local_run)
    failed = {Path(p).name for p, _ in _errors(out)}
    assert failed == {'empty.jpg', 'truncated.jpg', 'notes.jpg', 'broken.mp4', 'missing.jpg'}
    table = _table(out)
    assert sorted(table.loc[table['path'].str.endswith('clip.avi'), 'frame'].unique()) == [0, 2, 4, 6, 8]
    # merge and the dashboard read the Ray folder as they read a local one
    assert cli(['merge', str(out), '--out', str(tmp_path / 'merged')]) == 1        # 1: it has failed items
    pd.testing.assert_frame_equal(_table(tmp_path / 'merged'), table)
    shown = load_run(out)
    assert not shown.warnings and len(shown.predictions) == len(table) and shown.summary['faces'] == len(table)


def test_actor_killed_mid_run_is_restarted_and_its_batch_retried(tmp_path, cluster, inputs, local_run, monkeypatch):
    flag = tmp_path / 'crash-once'
    flag.write_text('')
    monkeypatch.setenv(CRASH_ONCE_ENV, str(flag))
    out = tmp_path / 'ray'
    run_ray('mobile', inputs, out, RunOptions(**OPTS),
            RayOptions(address=cluster, workers=2, batch_size=3, video_chunk_frames=2))
    crashed = Path(str(flag) + '.crashed')
    assert not flag.exists() and crashed.exists()          # one actor really exited mid-batch
    _assert_same_run(out, local_run)                       # nothing missing, nothing twice
    assert not _table(out).duplicated(SORT).any()


N_MANY = 40


def test_interrupted_run_resumes_where_it_stopped(tmp_path, cluster, example_images):
    folder = tmp_path / 'many'
    folder.mkdir()
    images = real_images(example_images, 4)
    for i in range(N_MANY):
        shutil.copy(images[i % len(images)], folder / ('img%02d.jpg' % i))
    out = tmp_path / 'ray'
    cmd = [sys.executable, '-m', 'maskhub', 'predict', str(folder), '--out', str(out), '--engine', 'ray',
           '--ray-address', cluster, '--workers', '1', '--ray-batch-size', '1', '--ray-part-items', '2',
           '--no-progress']
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    journal = out / 'journal.jsonl'
    deadline = time.time() + 90
    while not (journal.exists() and len(journal.read_text().splitlines()) >= 3):
        assert proc.poll() is None and time.time() < deadline, 'the run ended or stalled before it was interrupted'
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = journal.read_text().splitlines()
    assert 3 <= len(before) < N_MANY and not (out / 'summary.json').exists()
    assert cli(['predict', str(folder), '--out', str(out), '--engine', 'ray', '--ray-address', cluster,
                '--workers', '2', '--resume', '--no-progress']) == 0
    after = journal.read_text().splitlines()
    assert after[:len(before)] == before                            # done items kept, not redone
    assert len(after) == len({json.loads(line)['path'] for line in after}) == N_MANY
    table = _table(out)
    assert not table.duplicated(SORT).any()
    streamed = pd.concat([pd.read_parquet(p) for p in (out / 'parts').glob('part-*.parquet')])
    assert len(streamed) == len(table)                              # no part file counts an item twice
    # every copy of the same photo got the same faces, whichever run predicted it
    faces = table.groupby(table['path'].map(lambda p: Path(p).name)).size()
    for i in range(len(images)):
        copies = {faces.get('img%02d.jpg' % j, 0) for j in range(i, N_MANY, len(images))}
        assert len(copies) == 1, copies
    assert json.loads((out / 'summary.json').read_text())['faces'] == len(table) > 0


def test_in_process_ray_init(tmp_path, inputs, local_run, mobile_detector):
    ray.shutdown()                                         # leave the cluster the tests above joined
    uri_inputs = ['file://%s/*.jpg' % inputs[0], 'file://%s' % (Path(inputs[0]) / 'bad')]   # via pyarrow.fs
    temp_dir = tempfile.mkdtemp(prefix='mhray')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp_dir)
    try:
        out = tmp_path / 'ray'
        summary = run_ray('mobile', inputs, out, RunOptions(**OPTS), RayOptions(workers=2, video_chunk_frames=3))
        assert ray.is_initialized()                        # the caller's Ray is left running
        run_ray('mobile', uri_inputs, tmp_path / 'ray_uri', RunOptions(**OPTS), RayOptions(workers=2))
    finally:
        stop_local_ray(ray, temp_dir)                      # ray.shutdown() and nothing of it left running
    assert summary['options']['workers'] == 2
    _assert_same_run(out, local_run)
    run_batch(mobile_detector, uri_inputs, tmp_path / 'local_uri', RunOptions(**OPTS))
    _assert_same_run(tmp_path / 'ray_uri', tmp_path / 'local_uri')
    table = _table(tmp_path / 'ray_uri')
    assert table['path'].str.startswith('file:///').all() and table['path'].nunique() == 3   # 4 photos, 1 faceless
    # the same faces as the plain paths gave
    plain = _table(local_run)
    plain = plain[plain['path'].str.endswith('.jpg')].reset_index(drop=True)
    pd.testing.assert_frame_equal(table.drop(columns='path'), plain.drop(columns='path'))


def test_unreachable_address_is_one_clear_line(tmp_path, capsys, example_images):
    port = _free_port()                                    # nothing listens there
    code = cli(['predict', str(example_images[0]), '--out', str(tmp_path / 'r'), '--engine', 'ray',
                '--ray-address', '127.0.0.1:%d' % port, '--no-progress'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert 'cannot reach the Ray cluster at 127.0.0.1:%d' % port in err[0]


def test_missing_ray_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, 'ray', None)          # what `import ray` sees without the package
    with pytest.raises(RayEngineError, match=r"needs Ray Data .*pip install 'ray\[data\]==2\.40\.0'"):
        import_ray()


def test_fsspec_uris_as_inputs(tmp_path, example_images, mobile_detector):
    """A scheme pyarrow does not know goes through fsspec: folders list, globs match, bad files are error rows."""
    fsspec = pytest.importorskip('fsspec')
    mem = fsspec.filesystem('memory')
    photos = real_images(example_images, 2)
    for p in photos:
        mem.pipe('/maskhub-test/cam1/%s' % p.name, p.read_bytes())
    mem.pipe('/maskhub-test/cam2/empty.jpg', b'')
    try:
        summary = run_batch(mobile_detector, ['memory://maskhub-test', 'memory://maskhub-test/*/nothing*.jpg'],
                            tmp_path / 'run', RunOptions(progress=False))
    finally:
        mem.rm('/maskhub-test', recursive=True)
    errors = dict(_errors(tmp_path / 'run'))
    assert errors == {'memory:///maskhub-test/cam2/empty.jpg': 'empty file (0 bytes)',
                      'memory://maskhub-test/*/nothing*.jpg': 'pattern matches no file'}
    local = run_batch(mobile_detector, [str(p) for p in photos], tmp_path / 'plain', RunOptions(progress=False))
    assert summary['images'] == 2 and summary['faces'] == local['faces'] > 0


def test_long_video_becomes_aligned_frame_ranges(tmp_path, example_images):
    from maskhub.batch.inputs import expand_inputs
    from maskhub.batch.ray_engine import plan_units
    _video(tmp_path / 'long.avi', real_images(example_images, 1)[0], frames=25)
    items, _ = expand_inputs([str(tmp_path)])
    units = plan_units(items, RunOptions(video_every_n=3), chunk_frames=2)
    ranges = [(u['start'], u['stop']) for u in units]
    # 2 sampled frames (step 3) per range, the last one open to the real end (frames 24 of 0..24)
    assert ranges == [(0, 6), (6, 12), (12, 18), (18, 24), (24, -1)]
    assert {u['parts'] for u in units} == {5} and len({u['key'] for u in units}) == 5
