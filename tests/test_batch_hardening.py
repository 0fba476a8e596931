"""Batch runs that survive crashes and bad paths (issue 16, items 2, 5, 6): a journal cut at every byte of
its last line, one images.csv row per input with the right reason, output folders refused before the model
loads, a disk that fills up mid-run. Real images, the real mobile model."""
import contextlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from maskhub.batch.journal import JOURNAL, QUARANTINE, JournalError, read_journal, repair_journal
from maskhub.batch.run import OutputFullError, RunOptions, merge_runs, run_batch
from maskhub.cli import main as cli
from maskhub.io.paths import OutputDirError, check_output_dir, input_problem
from maskhub.io.tables import IMAGE_COLUMNS


def sorted_predictions(folder):
    df = pd.read_csv(Path(folder) / 'predictions.csv')
    return df.sort_values(['path', 'id']).reset_index(drop=True)


@pytest.fixture(scope='module')
def clean_run(tmp_path_factory, example_images, mobile_detector):
    """A clean run over three real images; the journal's last line is the image with faces."""
    out = tmp_path_factory.mktemp('clean')
    inputs = [str(p) for p in example_images[:3]]
    run_batch(mobile_detector, inputs, out, RunOptions(progress=False))
    return inputs, out


def test_journal_cut_at_every_byte_of_its_last_line_is_detected_and_repaired(clean_run, tmp_path):
    inputs, clean = clean_run
    data = (clean / JOURNAL).read_bytes()
    head_end = data.rstrip(b'\n').rfind(b'\n') + 1
    last_line = data[head_end:]
    last_path = json.loads(last_line)['path']
    assert len(last_line) > 500 and json.loads(last_line)['rows']          # the cut item has faces
    journal = tmp_path / JOURNAL
    for cut in range(head_end, len(data)):          # every byte of the last line, newline excluded
        journal.write_bytes(data[:cut])
        contents = read_journal(journal)
        assert set(contents.entries) == set(inputs[:2]) | ({last_path} if cut == len(data) - 1 else set())
        complete_json = cut == len(data) - 1
        assert contents.missing_newline == complete_json
        assert len(contents.bad_lines) == (0 if complete_json or cut == head_end else 1), cut
        if contents.bad_lines:
            assert contents.bad_lines[0].number == 3 and 'cut short' in contents.bad_lines[0].reason
        repaired = repair_journal(journal)
        assert repaired.entries.keys() == contents.entries.keys()
        after = journal.read_bytes()
        assert after.endswith(b'\n') and after.startswith(data[:head_end])
        again = read_journal(journal)
        assert not again.bad_lines and not again.missing_newline and again.entries.keys() == contents.entries.keys()
    quarantined = [json.loads(line) for line in (tmp_path / QUARANTINE).read_text().splitlines()]
    assert len(quarantined) == len(last_line) - 2          # every cut except "nothing written" and "complete"
    assert all(q['journal_line'] == 3 for q in quarantined)


@pytest.mark.parametrize('keep', [1, 17, 200, -2, -1])
def test_resume_after_a_cut_journal_gives_the_clean_run(clean_run, tmp_path, mobile_detector, keep):
    inputs, clean = clean_run
    data = (clean / JOURNAL).read_bytes()
    head_end = data.rstrip(b'\n').rfind(b'\n') + 1
    cut = head_end + keep if keep > 0 else len(data) + keep
    out = tmp_path / 'run'
    out.mkdir()
    (out / JOURNAL).write_bytes(data[:cut])
    # merge refuses the cut journal: its items would go missing
    with pytest.raises(JournalError, match=r'unreadable line.*line 3: last line cut short') if keep != -1 else \
            contextlib.nullcontext():
        merge_runs([out], tmp_path / 'merged')
    run_batch(mobile_detector, inputs, out, RunOptions(progress=False, resume=True))
    pd.testing.assert_frame_equal(sorted_predictions(out), sorted_predictions(clean))
    images = pd.read_csv(out / 'images.csv')
    assert sorted(images['path']) == sorted(inputs)
    lines = (out / JOURNAL).read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)['path'] for line in lines)
    merge_runs([out], tmp_path / 'merged2')                  # the repaired journal merges


def test_merge_of_a_cut_journal_fails_loudly(clean_run, tmp_path, capsys):
    _, clean = clean_run
    shard = tmp_path / 'shard'
    shutil.copytree(clean, shard)
    data = (shard / JOURNAL).read_bytes()
    (shard / JOURNAL).write_bytes(data[:-40])
    code = cli(['merge', str(shard), '--out', str(tmp_path / 'merged')])
    err = capsys.readouterr().err
    assert code == 2
    assert 'has 1 unreadable line(s) (line 3: last line cut short' in err and '--resume' in err
    assert not (tmp_path / 'merged' / 'summary.json').exists()


@pytest.fixture(scope='module')
def odd_inputs(tmp_path_factory, example_images):
    d = tmp_path_factory.mktemp('odd')
    shutil.copy(example_images[0], d / 'good.jpg')
    cv2.imwrite(str(d / 'blank.png'), np.full((240, 320, 3), 128, np.uint8))       # no face in it
    (d / 'folder.jpg').mkdir()                                                    # a directory named like an image
    os.symlink('loop_b.jpg', d / 'loop_a.jpg')
    os.symlink('loop_a.jpg', d / 'loop_b.jpg')
    os.symlink('gone.jpg', d / 'dangling.jpg')
    (d / 'garbage.jpg').write_bytes(b'\x00' * 100)
    os.mkfifo(d / 'pipe.jpg')
    return d


def test_every_input_has_exactly_one_row_with_the_right_reason(odd_inputs, tmp_path):
    out = tmp_path / 'run'
    explicit = [str(odd_inputs / 'loop_a.jpg'), str(tmp_path / 'nowhere.jpg')]
    assert cli(['predict', str(odd_inputs), *explicit, '--out', str(out), '--no-progress']) == 1
    images = pd.read_csv(out / 'images.csv')
    assert list(images.columns) == IMAGE_COLUMNS
    assert pd.read_parquet(out / 'images.parquet').shape == images.shape
    by_name = {Path(p).name: row for p, row in zip(images['path'], images.to_dict('records'))}
    assert len(by_name) == len(images) == 9            # good, blank, folder, 2 loops, dangling, garbage, pipe, nowhere
    assert by_name['good.jpg']['status'] == 'ok' and by_name['good.jpg']['faces'] > 0
    assert by_name['good.jpg']['mask'] + by_name['good.jpg']['no_mask'] == by_name['good.jpg']['faces']
    assert (by_name['good.jpg']['width'], by_name['good.jpg']['height']) == (400, 300)
    assert by_name['blank.png']['status'] == 'no_face' and by_name['blank.png']['faces'] == 0
    assert (by_name['blank.png']['width'], by_name['blank.png']['height']) == (320, 240)
    reasons = {name: row['error'] for name, row in by_name.items() if row['status'] == 'error'}
    assert reasons == {'folder.jpg': 'is a directory, not an image file', 'loop_a.jpg': 'symlink loop',
                       'loop_b.jpg': 'symlink loop',
                       'dangling.jpg': 'broken symlink (its target gone.jpg does not exist)',
                       'garbage.jpg': 'not an image (UnidentifiedImageError)', 'pipe.jpg': 'not a regular file (FIFO)',
                       'nowhere.jpg': 'file not found'}
    predictions = pd.read_csv(out / 'predictions.csv')
    assert len(predictions) == by_name['good.jpg']['faces']
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['image_rows'] == {'ok': 1, 'no_face': 1, 'error': 7}


def test_input_problem_reasons(odd_inputs):
    assert input_problem(odd_inputs / 'good.jpg') is None
    assert input_problem(odd_inputs / 'good.jpg' / 'x.jpg').startswith('file not found (a parent of it is a file')


# ---- output folders ------------------------------------------------------------------------------------
def _refuse_model_load(monkeypatch):
    def no_model(args):
        raise AssertionError('the model must not load when --out is unusable')
    monkeypatch.setattr('maskhub.commands.predict.load_detector', no_model)


@pytest.mark.parametrize('make_out, reason', [
    (lambda tmp: (tmp / 'a_file.txt').write_text('x') and tmp / 'a_file.txt', 'is a file, not a folder'),
    (lambda tmp: Path('/proc/self/maskhub_out'), 'is on /proc (a proc virtual file system), not a place for files'),
    (lambda tmp: (tmp / 'f').write_text('x') and tmp / 'f' / 'sub', 'a parent of it is a file, not a folder'),
])
def test_unusable_out_fails_before_the_model_loads(tmp_path, example_images, monkeypatch, capsys, make_out, reason):
    _refuse_model_load(monkeypatch)
    out = make_out(tmp_path)
    assert cli(['predict', str(example_images[0]), '--out', str(out), '--no-progress']) == 2
    err = capsys.readouterr().err.strip()
    assert err == 'maskhub predict: error: --out %s: %s' % (out, reason)


@contextlib.contextmanager
def tmpfs(path, size_kb, read_only=False):
    """A real small (or read-only) file system at ``path``; skips where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    opts = 'size=%dk%s' % (size_kb, ',ro' if read_only else '')
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'maskhub-test-%s' % uuid.uuid4().hex[:6], str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip('cannot mount a tmpfs here (%s)' % proc.stderr.strip()[:100])
    try:
        yield path
    finally:
        subprocess.run(['umount', '-l', str(path)], capture_output=True)


def test_read_only_and_full_out_fail_before_the_model_loads(tmp_path, example_images, monkeypatch, capsys):
    _refuse_model_load(monkeypatch)
    with tmpfs(tmp_path / 'ro', 1024, read_only=True) as ro:
        assert cli(['predict', str(example_images[0]), '--out', str(ro / 'run'), '--no-progress']) == 2
        assert capsys.readouterr().err.strip() == ('maskhub predict: error: --out %s: cannot create the folder '
                                                   '(read-only file system)' % (ro / 'run'))
    with tmpfs(tmp_path / 'full', 256) as full:
        with pytest.raises(OSError):
            (full / 'filler').write_bytes(b'\0' * (512 << 10))
        assert cli(['predict', str(example_images[0]), '--out', str(full), '--no-progress']) == 2
        assert capsys.readouterr().err.strip() == ('maskhub predict: error: --out %s: cannot write there '
                                                   '(no space left on the device)' % full)
    with tmpfs(tmp_path / 'small', 1024) as small:
        with pytest.raises(OutputDirError, match='only 1.0 MB free on its disk'):
            check_output_dir(small, min_free_mb=2)


def test_disk_filling_up_mid_run_stops_cleanly_and_resumes(tmp_path, example_images, mobile_detector):
    inputs = []
    for copy in range(5):                       # 30 real photos under distinct paths
        folder = tmp_path / 'in' / str(copy)
        folder.mkdir(parents=True)
        inputs += [str(shutil.copy(p, folder / p.name)) for p in example_images]
    clean = tmp_path / 'clean'
    run_batch(mobile_detector, inputs, clean, RunOptions(progress=False, save_images=True))
    written_kb = sum(p.stat().st_size for p in clean.rglob('*') if p.is_file()) // 1024
    with tmpfs(tmp_path / 'disk', written_kb // 2) as disk:          # room for half of what the run writes
        out = disk / 'run'
        with pytest.raises(OutputFullError, match=r'disk full .* after \d+ item\(s\); the journal keeps them: '
                                                  r'free space and rerun the same command with --resume'):
            run_batch(mobile_detector, inputs, out, RunOptions(progress=False, save_images=True, min_free_mb=0.1))
        contents = read_journal(out / JOURNAL)
        assert not contents.bad_lines and 0 < len(contents.entries) < len(inputs)
        subprocess.run(['mount', '-o', 'remount,size=%dk' % (4 * written_kb + 2048), str(disk)], check=True)
        run_batch(mobile_detector, inputs, out, RunOptions(progress=False, save_images=True, resume=True))
        pd.testing.assert_frame_equal(sorted_predictions(out), sorted_predictions(clean))
        assert sorted(pd.read_csv(out / 'images.csv')['path']) == sorted(inputs)
        assert sorted(p.name for p in (out / 'images').iterdir()) == sorted(p.name for p in (clean / 'images').iterdir())


def test_fault_test_kill_9_and_resume_keeps_every_input_exactly_once(tmp_path):
    """The small version of `python -m maskhub.batch.faulttest`: 30 real photos and odd entries, two
    SIGKILLs of `maskhub predict` at random journal positions, then --resume."""
    from maskhub.batch.faulttest import run_fault_test
    result = run_fault_test(tmp_path, count=30, odd_fraction=0.2, kills=2, seed=5, threads=1, timeout_s=300)
    assert result['checks'] == {name: True for name in result['checks']}, result
    assert all(k['killed'] for k in result['kills']) and result['odd'] == 6
    assert result['status_counts'].get('error', 0) >= 4 and result['faces'] > 0
