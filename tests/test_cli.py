"""The maskhub command line as a newcomer meets it: one CLI, exit statuses, one-line errors, outputs that
are never overwritten, and the README's path without the development data (train on a small VOC folder
of one's own, evaluate, package, predict, export + verify)."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest

from conftest import REPO, write_voc_folder
from maskhub.cli import COMMANDS, build_parser
from maskhub.cli import main as cli

PYTHON = sys.executable


def run_cli(*args, env=None, cwd=REPO):
    """The real process: its exit status, stdout and stderr."""
    full_env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1', **(env or {}))
    done = subprocess.run([PYTHON, '-m', *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def one_line_error(err, *fragments):
    lines = [line for line in err.splitlines() if 'error:' in line]
    assert len(lines) == 1, err
    assert 'Traceback' not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---- one CLI ------------------------------------------------------------------------------------------

def test_every_command_and_option_has_help_and_one_style():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(COMMANDS) == {'predict', 'evaluate', 'train', 'export', 'verify', 'serve', 'bench',
                                                 'loadtest', 'merge', 'report'}
    for name, p in sub.choices.items():
        assert not p.get_default('_unavailable'), (name, p.get_default('_unavailable'))
        for action in p._actions:
            assert action.help, '%s %s has no help' % (name, action.option_strings or action.dest)
            for flag in action.option_strings:
                assert '_' not in flag, '%s %s: options use dashes' % (name, flag)
        p.format_help()              # every help string formats


def test_installed_console_script_runs_the_shell_commands_from_any_folder(tmp_path):
    """The ``maskhub`` script pip installs (no PYTHONPATH, started outside the checkout) reaches ``train`` and
    ``export``, whose code lives in the finetune/ and lite_export/ shells: they are installed packages too."""
    script = Path(PYTHON).parent / 'maskhub'
    if not script.exists():
        pytest.skip('maskhub is not installed as a console script in this environment')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    (tmp_path / 'incomplete.yml').write_text('name: incomplete\n')     # read by finetune.train.load_config
    for args, fragment in ((['train', '--config', 'incomplete.yml'], "missing key 'task'"),
                           (['export', '--model', 'no_such_model', '--out', str(tmp_path / 'lite')], 'no_such_model')):
        done = subprocess.run([str(script), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0
        assert 'ModuleNotFoundError' not in done.stderr, done.stderr
        one_line_error(done.stderr, fragment)


def test_version_help_and_old_entry_points():
    from maskhub import __version__
    code, out, _ = run_cli('maskhub', '--version')
    assert code == 0 and out.strip() == 'maskhub %s' % __version__
    code, out, _ = run_cli('maskhub', 'train', '--help')
    assert code == 0 and '--data SPEC' in out and 'voc:DIR' in out
    code, out, _ = run_cli('finetune.train', '--help')       # the old module is the same command
    assert code == 0 and 'usage: maskhub train' in out
    code, out, _ = run_cli('lite_export', '--help')
    assert code == 0 and 'verify' in out


def test_fatal_errors_are_one_line_with_status_2(capsys):
    code, _, err = run_cli('maskhub', 'predict', 'examples/images', '--model', 'no_such_model', '--out', 'unused')
    assert code == 2
    one_line_error(err, 'no_such_model')
    code, _, err = run_cli('maskhub', 'predict', 'examples/images', '--model', 'no_such_model', '--verbose')
    assert code == 2 and 'Traceback' in err
    assert cli(['predict', 'x.jpg', '--format', 'xml']) == 2
    one_line_error(capsys.readouterr().err, '--format xml')


def test_use_gpu_on_the_cpu_build_is_refused(tmp_path, capsys):
    import paddle
    if paddle.device.is_compiled_with_cuda():
        pytest.skip('this Paddle build has CUDA')
    assert cli(['predict', str(REPO / 'examples' / 'images'), '--use-gpu', '--out', str(tmp_path / 'r')]) == 2
    one_line_error(capsys.readouterr().err, '--use-gpu')
    assert not (tmp_path / 'r').exists() or not any((tmp_path / 'r').iterdir())


# ---- outputs -------------------------------------------------------------------------------------------

@pytest.fixture
def clip(tmp_path, example_images):
    frame = cv2.resize(cv2.imread(str(example_images[0])), (400, 300))
    path = tmp_path / 'inputs' / 'clip.avi'
    path.parent.mkdir()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (400, 300))
    for _ in range(7):
        writer.write(frame)
    writer.release()
    return path


def test_predict_outputs_named_after_inputs_with_video_crops_and_json(tmp_path, example_images, clip):
    images = [str(p) for p in example_images[:2]]
    out = tmp_path / 'run'
    assert cli(['predict', *images, str(clip), '--out', str(out), '--every-n', '2', '--save-images',
                '--save-video', '--save-crops', '--format', 'csv,json', '--no-progress']) == 0
    assert sorted(p.name for p in (out / 'images').glob('*.jpg')) == sorted(p.name for p in example_images[:2])
    assert sorted(p.name for p in (out / 'images' / 'clip').iterdir()) == ['frame_%06d.jpg' % i for i in (0, 2, 4, 6)]
    video = cv2.VideoCapture(str(out / 'videos' / 'clip.mp4'))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    ok, first = video.read()
    assert ok and first.shape == (300, 400, 3)
    table = pd.read_csv(out / 'predictions.csv')
    assert len(pd.read_json(out / 'predictions.json')) == len(table) > 0
    assert not (out / 'predictions.parquet').exists()
    crops = [p for p in (out / 'crops').rglob('*.jpg')]
    assert len(crops) == len(table)
    assert {p.relative_to(out / 'crops').parts[0] for p in crops} == set(table['label'].str.replace(' ', '_'))
    summary = json.loads((out / 'summary.json').read_text())
    assert (summary['images'], summary['frames'], summary['videos']) == (2, 4, 1)


def test_video_progress_counts_sampled_frames(clip, example_images):
    from maskhub.batch.inputs import WorkItem
    from maskhub.batch.run import RunOptions, progress_units
    items = [WorkItem(str(clip), 'video'), WorkItem(str(example_images[0]), 'image')]
    assert progress_units(items, RunOptions(video_every_n=2)) == 4 + 1      # frames 0, 2, 4, 6 of 7, one image
    assert progress_units(items, RunOptions()) == 7 + 1


def test_out_is_never_overwritten_without_exist_ok(tmp_path, example_images, monkeypatch, capsys):
    image = str(example_images[0])
    out = tmp_path / 'run'
    assert cli(['predict', image, '--out', str(out), '--no-progress']) == 0
    before = (out / 'predictions.csv').read_bytes()
    assert cli(['predict', str(example_images[1]), '--out', str(out), '--no-progress']) == 2
    one_line_error(capsys.readouterr().err, str(out), '--exist-ok')
    assert (out / 'predictions.csv').read_bytes() == before
    assert cli(['predict', str(example_images[1]), '--out', str(out), '--exist-ok', '--no-progress']) == 0
    assert set(pd.read_csv(out / 'predictions.csv')['path']) == {str(example_images[1])}
    monkeypatch.chdir(tmp_path)          # without --out: a new numbered folder each time
    for _ in range(2):
        assert cli(['predict', image, '--no-progress']) == 0
    assert sorted(p.name for p in (tmp_path / 'runs' / 'predict').iterdir()) == ['1', '2']


def test_labels_stay_inside_the_image(example_images):
    from maskhub.io.draw import draw_faces, label_origin
    image = cv2.imread(str(example_images[0]))
    h, w = image.shape[:2]
    for box in ((0, 0, 30, 30), (w - 20, 0, w - 1, 25), (w - 25, h - 25, w - 1, h - 1), (0, h - 10, 40, h - 1)):
        x, y = label_origin(box[:2], box[2:], 90, 12, 4, (h, w))
        assert 0 <= x and x + 90 < w and y - 12 - 2 >= 0 and y + 4 < h, box
    # the label of a face at the right edge is drawn (its colour fills pixels next to the edge, inside)
    face = {'label': 'NO MASK', 'confidence': 0.99, 'left': w - 20, 'top': 0, 'right': w - 1, 'bottom': 25}
    drawn = draw_faces(image, [face])
    changed = (drawn != image).any(axis=2)
    assert changed[:, : w - 60].any()     # the label reaches left of the box instead of being cut off


# ---- data as an argument, without the development data ---------------------------------------------------

def test_dev_data_missing_is_one_line_naming_it(no_shared, tmp_path, capsys):
    for argv in (['evaluate', '--data', 'dev:wider-val'], ['evaluate', '--data', 'wider-val'],
                 ['train', '--config', 'finetune/configs/mobile_crowd_detector.yml', '--work-dir', str(tmp_path / 'w')],
                 ['report', '--out', str(tmp_path / 'r')]):
        assert cli(argv) == 2, argv
        one_line_error(capsys.readouterr().err, '/nonexistent/maskhub-shared', 'MASKHUB_SHARED', 'voc:DIR')
    assert not (tmp_path / 'w').exists() and not (tmp_path / 'r').exists()
    from finetune.evaluate import main as finetune_evaluate
    from finetune.upsample_check import main as upsample_check
    from maskhub.data.splits import main as make_splits
    for tool, argv in ((upsample_check, ['--max-images', '2']), (make_splits, []),
                       (finetune_evaluate, ['--config', 'finetune/configs/mask_classifier.yml', '--weights',
                                            'hub_modules/pyramidbox_lite_mobile_mask/model/classifier.pdparams'])):
        assert tool(argv) == 2
        one_line_error(capsys.readouterr().err, 'MASKHUB_SHARED')
    code, _, err = run_cli('tools.convert_official_weights', env={'MASKHUB_SHARED': '/nonexistent/maskhub-shared'})
    assert code == 2
    one_line_error(err, 'detector.json', 'MASKHUB_SHARED')
    for spec, fragment in (('voc:%s' % tmp_path, 'no annotations/'), ('wider:%s/gt.txt' % tmp_path, 'not found'),
                           ('coco:x', 'unknown kind'), ('nonsense', 'expected voc:DIR')):
        assert cli(['evaluate', '--data', spec]) == 2
        one_line_error(capsys.readouterr().err, fragment)


def test_classifier_without_labelled_faces_fails_clearly(no_shared, tmp_path, capsys):
    voc = write_voc_folder(tmp_path / 'voc')
    gt = tmp_path / 'gt.txt'              # the same faces as WIDER FACE ground truth: boxes, no mask labels
    from maskhub.data.sources import load_data
    lines = []
    for s in load_data('voc:%s' % voc):
        lines += [Path(s.path).name, str(len(s.boxes))]
        lines += ['%d %d %d %d 0 0 0 0 0 0' % (x1, y1, x2 - x1, y2 - y1) for x1, y1, x2, y2 in s.boxes]
    gt.write_text('\n'.join(lines) + '\n')
    assert cli(['train', '--config', 'finetune/configs/mask_classifier.yml', '--data',
                'wider:%s:%s' % (gt, voc / 'images'), '--work-dir', str(tmp_path / 'w')]) == 2
    one_line_error(capsys.readouterr().err, 'no face has a mask label')


def test_yaml_dataset_file(tmp_path):
    from maskhub.data.sources import load_data
    write_voc_folder(tmp_path / 'data' / 'train')
    write_voc_folder(tmp_path / 'data' / 'val', images={'maksssksksss558.jpg'})
    spec = tmp_path / 'data' / 'faces.yml'
    spec.write_text('train: {voc:train: 2}\nval: voc:val\n')
    assert len(load_data('yaml:%s' % spec, 'train')) == 6
    assert [Path(s.path).name for s in load_data('yaml:%s' % spec, 'val')] == ['maksssksksss558.jpg']


def test_newcomer_trains_evaluates_and_predicts_on_a_small_voc_folder(no_shared, tiny_voc, tmp_path, capsys):
    """README 'Train on your own data', step by step, on three images (a few iterations)."""
    work = tmp_path / 'work_dirs'
    detector = ['train', '--config', 'finetune/configs/mobile_crowd_detector.yml', '--data', 'voc:%s' % tiny_voc,
                '--epochs', '1', '--iters-per-epoch', '2', '--batch-size', '1', '--work-dir', str(work / 'det')]
    assert cli(detector) == 0
    assert (work / 'det' / 'epoch_1.pdparams').is_file()
    assert 'INFO finetune: epoch 1 done' in (work / 'det' / 'train.log').read_text()   # not muted by paddle's import
    history = json.loads((work / 'det' / 'last.json').read_text())['history']
    assert history[-1]['recall']['faces']['16-32'] + history[-1]['recall']['faces']['32-64'] == 24
    capsys.readouterr()
    assert cli(detector) == 2                          # a run folder holds one run
    one_line_error(capsys.readouterr().err, 'already holds a training run', '--resume')
    assert cli(detector[:-1] + [str(work / 'fresh'), '--resume']) == 2
    one_line_error(capsys.readouterr().err, 'nothing to resume')
    assert cli(['train', '--config', 'finetune/configs/mask_classifier.yml', '--data', 'voc:%s' % tiny_voc,
                '--epochs', '1', '--iters-per-epoch', '2', '--batch-size', '4', '--work-dir', str(work / 'cls')]) == 0
    from finetune.package import main as package
    model = tmp_path / 'my_model'
    assert package(['--detector-weights', str(work / 'det' / 'epoch_1.pdparams'), '--classifier-weights',
                    str(work / 'cls' / 'epoch_1.pdparams'), '--config', 'pyramidbox_lite_crowd', '--name', 'my_model',
                    '--out', str(model)]) == 0
    assert cli(['evaluate', '--model', str(model), '--data', 'voc:%s' % tiny_voc, '--out', str(tmp_path / 'eval'),
                '--no-progress']) == 0
    metrics = json.loads((tmp_path / 'eval' / 'shrink_0.5' / 'metrics.json').read_text())
    assert metrics['images'] == 3 and metrics['faces'] == 24
    assert metrics['ap']['face']['ap'] > 0.8          # two small steps from the official weights
    assert cli(['predict', str(tiny_voc / 'images'), '--model', str(model), '--out', str(tmp_path / 'pred'),
                '--no-progress']) == 0
    assert len(pd.read_csv(tmp_path / 'pred' / 'predictions.csv')) > 0


def test_export_verifies_on_example_images_without_dev_data(no_shared, tmp_path):
    out = tmp_path / 'lite' / 'mobile'
    code, stdout, err = run_cli('maskhub', 'export', '--model', 'mobile', '--out', str(out),
                                env={'MASKHUB_SHARED': '/nonexistent/maskhub-shared'})
    assert code == 0, err
    report = json.loads((out / 'verification.json').read_text())
    assert report['passed'] and report['images'] == len(list((REPO / 'examples' / 'images').glob('*.jpg')))
    assert (out / 'arm' / 'detector.nb').is_file() and 'verification PASSED' in stdout
    code, _, err = run_cli('maskhub', 'export', '--model', 'mobile', '--out', str(out), '--no-verify')
    assert code == 2
    one_line_error(err, '--exist-ok')


def test_serve_answers_the_paddlehub_protocol(no_shared, example_images):
    import base64
    import socket
    import time
    import requests
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    server = subprocess.Popen([PYTHON, '-m', 'maskhub', 'serve', 'mobile', '--port', str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = 'http://127.0.0.1:%d/predict/pyramidbox_lite_mobile_mask' % port
        image = base64.b64encode(example_images[0].read_bytes()).decode()
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, server.stderr.read()
            try:
                answer = requests.post(url, json={'images': [image]}, timeout=60).json()
                break
            except requests.ConnectionError:
                assert time.time() < deadline, 'server did not start'
                time.sleep(1)
        assert answer['status'] == '000' and len(answer['results'][0]['data']) > 0
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_evaluate_leaves_out_a_corrupt_image_names_it_and_exits_1(tiny_voc, tmp_path, capsys):
    """One truncated JPEG in the evaluation set: the other images are evaluated, the bad one is named on stderr
    and in metrics.json, and the exit status says the run was partial."""
    bad = tiny_voc / 'images' / 'maksssksksss564.jpg'
    bad.write_bytes(bad.read_bytes()[:200])
    code = cli(['evaluate', '--model', 'mobile', '--data', 'voc:%s' % tiny_voc, '--out', str(tmp_path / 'eval'),
                '--no-progress'])
    err = capsys.readouterr().err
    assert code == 1
    assert 'left out %s' % bad in err and '1 of 3 images could not be read' in err
    metrics = json.loads((tmp_path / 'eval' / 'shrink_0.5' / 'metrics.json').read_text())
    assert metrics['images'] == 2 and [item['path'] for item in metrics['unreadable_images']] == [str(bad)]
    assert metrics['ap']['face']['ap'] > 0.5


def test_bench_report_and_loadtest_give_each_run_its_own_folder(tmp_path, monkeypatch):
    """Without --out, the report-writing commands do not overwrite an earlier run (runs/<command>/N)."""
    import argparse
    from maskhub import benchmark
    from maskhub.evaluation import report
    from maskhub.serving import loadtest
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'runs' / 'loadtest' / '1').mkdir(parents=True)
    for module in (benchmark, report, loadtest):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert parser.parse_args([]).out is None
    assert loadtest.report_target(argparse.Namespace(report=False, out=None)) == Path('runs/loadtest/2/serving.md')
    assert loadtest.report_target(argparse.Namespace(report=False, out='x.md')) == Path('x.md')
