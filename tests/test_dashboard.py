"""Dashboard: data logic (maskhub.dashboard.*) and the Streamlit pages (AppTest) on small real runs."""
import json
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from maskhub.cli import main as cli
from maskhub.dashboard import compare, detect, evaluation, frames, media, runs, stats
from maskhub.dashboard.filters import FaceFilter
from maskhub.io.tables import PREDICTION_COLUMNS

from conftest import real_images

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / 'streamlit_app.py')


@pytest.fixture(scope='module')
def runs_dir(tmp_path_factory, example_images):
    """A runs directory with two real runs of the same images (default and larger shrink) and a bad folder."""
    root = tmp_path_factory.mktemp('runs')
    inputs = root.parent / 'inputs'
    inputs.mkdir(exist_ok=True)
    paths = [str(p) for p in real_images(example_images, 3)]
    blank = inputs / 'blank_wall.jpg'      # nothing to find: an image with no face
    cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
    paths.append(str(blank))
    common = ['--no-progress', '--threads', '2']
    assert cli(['predict', *paths, '--out', str(root / 'small'), '--save-images', *common]) == 0
    assert cli(['predict', *paths, '--out', str(root / 'small_shrink08'), '--shrink', '0.8', *common]) == 0
    (root / 'broken').mkdir()
    (root / 'broken' / 'summary.json').write_text('{"faces": 3}')
    return root


@pytest.fixture(scope='module')
def small_run(runs_dir):
    return runs.load_run(runs_dir / 'small')


# ---- loading runs -------------------------------------------------------------------------------------

def test_load_run_matches_its_summary(small_run, runs_dir):
    summary = json.loads((runs_dir / 'small' / 'summary.json').read_text())
    assert list(small_run.predictions.columns) == PREDICTION_COLUMNS
    assert len(small_run.predictions) == summary['faces'] > 0
    assert not small_run.warnings
    faces = frames.combine_runs([small_run])
    units = frames.units_table(faces, [small_run])
    metrics = stats.overview_metrics(faces, units, [small_run])
    for key in ('images', 'faces', 'mask', 'no_mask', 'compliance_rate', 'images_with_no_face'):
        assert metrics[key] == summary[key], key
    assert metrics['images'] == 4 and metrics['images_with_no_face'] == 1
    assert len(units) == 4 and (units['faces'] == 0).sum() == 1       # the blank image is in the viewer too
    assert units['faces'].sum() == len(faces)


def test_list_runs_finds_run_folders(runs_dir):
    names = {p.name for p in runs.list_runs(runs_dir)}
    assert {'small', 'small_shrink08', 'broken'} <= names
    assert runs.list_runs(runs_dir / 'does-not-exist') == []


def test_bad_run_folders_give_clear_errors(tmp_path, runs_dir):
    with pytest.raises(runs.RunError, match='does not exist'):
        runs.load_run(tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(runs.RunError, match='not a maskhub run folder'):
        runs.load_run(tmp_path / 'empty')
    with pytest.raises(runs.RunError, match='did not finish'):
        runs.load_run(runs_dir / 'broken')
    wrong = tmp_path / 'wrong'
    wrong.mkdir()
    pd.DataFrame({'x': [1]}).to_csv(wrong / 'predictions.csv', index=False)
    with pytest.raises(runs.RunError, match='missing columns'):
        runs.load_run(wrong)


def test_partial_runs_load_with_a_warning(tmp_path, runs_dir):
    truncated = tmp_path / 'truncated'
    shutil.copytree(runs_dir / 'small', truncated)
    data = (truncated / 'predictions.parquet').read_bytes()
    (truncated / 'predictions.parquet').write_bytes(data[:len(data) // 3])
    run = runs.load_run(truncated)
    assert len(run.predictions) == len(runs.load_run(runs_dir / 'small').predictions)
    assert any('predictions.parquet is unreadable' in w for w in run.warnings)

    interrupted = tmp_path / 'interrupted'      # only the journal: the run was killed before its tables
    interrupted.mkdir()
    shutil.copy(runs_dir / 'small' / 'journal.jsonl', interrupted)
    with open(interrupted / 'journal.jsonl', 'a') as f:
        f.write('{"path": "cut sho')
    run = runs.load_run(interrupted)
    assert len(run.predictions) > 0 and run.items is not None
    assert any('interrupted run' in w for w in run.warnings)
    assert any('summary.json is missing' in w for w in run.warnings)


def test_uploaded_predictions_files(small_run, runs_dir):
    data = (runs_dir / 'small' / 'predictions.csv').read_bytes()
    run = runs.load_predictions_file('mine.csv', data)
    assert len(run.predictions) == len(small_run.predictions) and run.items is None
    run = runs.load_predictions_file('mine.parquet', (runs_dir / 'small' / 'predictions.parquet').read_bytes())
    assert run.predictions['label'].tolist() == small_run.predictions['label'].tolist()
    for name, payload, message in (('notes.txt', b'x', 'upload a predictions'), ('empty.csv', b'', 'is empty'),
                                   ('other.csv', b'a,b\n1,2\n', 'missing columns'),
                                   ('bad.parquet', b'not parquet', 'could not be read')):
        with pytest.raises(runs.RunError, match=message):
            runs.load_predictions_file(name, payload)


# ---- filters, aggregations, comparison -----------------------------------------------------------------

def test_face_filter(small_run):
    faces = frames.combine_runs([small_run])
    assert len(FaceFilter().apply(faces)) == len(faces)
    no_mask = FaceFilter(labels=('NO MASK',)).apply(faces)
    assert set(no_mask['label']) <= {'NO MASK'} and len(no_mask) == (faces['label'] == 'NO MASK').sum()
    confident = FaceFilter(confidence=(0.9, 1.0)).apply(faces)
    assert (confident['confidence'] >= 0.9).all()
    big = FaceFilter(face_size=(40, 10_000)).apply(faces)
    assert (big[['face_width', 'face_height']].max(axis=1) >= 40).all()
    name = Path(faces['path'].iloc[0]).name.upper()
    by_path = FaceFilter(path_text=name).apply(faces)
    assert len(by_path) > 0 and by_path['path'].str.endswith(Path(faces['path'].iloc[0]).name).all()


def test_charts_tables(small_run):
    faces = frames.combine_runs([small_run])
    units = frames.units_table(faces, [small_run])
    by_folder = stats.compliance_by(faces, frames.FOLDER)
    assert by_folder['faces'].sum() == len(faces)
    assert stats.faces_per_image(units)['images'].sum() == 4
    assert stats.face_size_distribution(faces)['faces'].sum() == len(faces)
    hist = stats.confidence_histogram(faces)
    assert hist.groupby('label')['faces'].sum().to_dict() == faces['label'].value_counts().to_dict() | \
        {k: 0 for k in ('MASK', 'NO MASK') if k not in set(faces['label'])}
    assert stats.compliance_over_time(faces).empty      # no video rows


def test_compare_runs_matches_faces(small_run):
    faces = small_run.predictions
    same = compare.compare_faces(faces, faces)
    assert compare.comparison_summary(same, faces, faces)['matched'] == len(faces)
    assert not same['disagree'].any()
    other = faces.copy()
    other[['left', 'right']] += 2                              # small shift: still the same faces
    flipped = other.index[0]
    other.loc[flipped, 'label'] = 'MASK' if other.loc[flipped, 'label'] == 'NO MASK' else 'NO MASK'
    other = other.drop(index=other.index[-1])                  # one face the other run missed
    extra = other.iloc[[0]].assign(left=5000, right=5050, top=5000, bottom=5050)
    other = pd.concat([other, extra], ignore_index=True)
    pairs = compare.compare_faces(faces, other, iou_threshold=0.5)
    summary = compare.comparison_summary(pairs, faces, other)
    assert summary == {**summary, 'matched': len(faces) - 1, 'only_a': 1, 'only_b': 1, 'label_disagreements': 1}
    per_image = compare.per_image(pairs)
    assert per_image['differences'].sum() == 3 and per_image['differences'].iloc[0] > 0


def test_compare_by_file_name_when_folders_differ(small_run):
    faces = small_run.predictions
    moved = faces.assign(path='/elsewhere/' + faces['path'].str.rsplit('/', n=1).str[-1])
    pairs = compare.compare_faces(faces, moved)
    assert pairs.attrs['by'] == 'name' and (pairs['status'] == compare.MATCHED).sum() == len(faces)


def test_fifty_thousand_faces_stay_fast(small_run):
    base = small_run.predictions
    copies = -(-50_000 // len(base))
    big = pd.concat([base] * copies, ignore_index=True)
    big['path'] = big['path'] + '#' + pd.Series(np.repeat(np.arange(copies), len(base))).astype(str)
    run = runs.LoadedRun('big', big)
    t0 = time.perf_counter()
    faces = frames.combine_runs([run])
    units = frames.units_table(faces, [run])
    stats.overview_metrics(faces, units, [run])
    stats.compliance_by(faces, frames.FOLDER)
    stats.face_size_distribution(faces)
    stats.confidence_histogram(faces)
    FaceFilter(labels=('NO MASK',), confidence=(0.5, 1.0), path_text='#12').apply(faces)
    assert time.perf_counter() - t0 < 5.0, 'loading + aggregating 50k faces took too long'
    assert len(faces) >= 50_000


# ---- images, crops, detection, evaluation ---------------------------------------------------------------

def test_media_lookup_and_crops(small_run, runs_dir, tmp_path):
    face = small_run.predictions.iloc[0]
    unit = media.load_unit_image(face['path'], None, small_run.run_dir)
    assert not unit.annotated and unit.image.ndim == 3
    drawn = media.annotate(unit, small_run.predictions[small_run.predictions['path'] == face['path']])
    assert drawn.shape == unit.image.shape and not np.array_equal(drawn, unit.image)
    crop = media.face_crop(unit, face)
    assert crop.shape[0] == 128 and crop.shape[2] == 3
    # the original is gone: the run's --save-images copy is shown, already annotated
    gone = '/no/such/dir/' + Path(face['path']).name
    saved = runs_dir / 'small' / 'images' / Path(face['path']).name      # annotated copies keep the file name
    cv2.imwrite(str(saved), unit.image)
    fallback = media.load_unit_image(gone, None, runs_dir / 'small')
    assert fallback.annotated
    with pytest.raises(media.MediaError, match='not on this machine'):
        media.load_unit_image('/no/such/image.jpg', None, tmp_path)


def test_detect_uploads_make_a_run_that_can_be_saved(mobile_detector, example_images, tmp_path):
    image = real_images(example_images, 3)[0]
    work = detect.new_run_dir(tmp_path / 'session')
    uploads = [(image.name, image.read_bytes()), ('a b.JPG', image.read_bytes())]
    summary = detect.detect_uploads(mobile_detector, uploads, work, shrink=0.5, confs_threshold=0.6)
    assert summary['images'] == 2 and summary['faces'] > 0 and summary['errors'] == 0
    assert sorted(p.name for p in (work / 'inputs').iterdir()) == sorted([image.name, 'a_b.JPG'])
    saved = detect.save_run(work, tmp_path / 'runs', 'uploaded-1')
    run = runs.load_run(saved)
    assert len(run.predictions) == summary['faces']
    # the recorded paths point into the session folder; once that is gone the saved copy's inputs/ serve
    shutil.rmtree(work)
    assert media.find_media(run.predictions['path'].iloc[0], saved).parent == saved / 'inputs'
    with pytest.raises(detect.DetectError, match='already exists'):
        detect.save_run(work, tmp_path / 'runs', 'uploaded-1')
    with pytest.raises(detect.DetectError, match='run name'):
        detect.save_run(work, tmp_path / 'runs', '../escape')
    with pytest.raises(detect.DetectError, match='not an image or video'):
        detect.detect_uploads(mobile_detector, [('notes.txt', b'hello')], tmp_path / 'x')
    with pytest.raises(detect.DetectError, match='at least one'):
        detect.detect_uploads(mobile_detector, [], tmp_path / 'y')


def test_evaluation_report_parts(tmp_path):
    assert evaluation.load_evaluation(tmp_path).empty
    (tmp_path / 'figures').mkdir()
    for name in ('figures/pr_face.png', 'figures/pr_classes.png', 'figures/pr_extra.png', 'sizes.png'):
        cv2.imwrite(str(tmp_path / name), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / 'accuracy.md').write_text(
        '# Accuracy\n\n| AP | 0.9 |\n\n![faces P-R](figures/pr_face.png)\n\n'
        'Per class: [pr_classes.png](figures/pr_classes.png) and [the paper](https://example.org/x.png)\n\n'
        '![gone](gone.png)\n')
    pd.DataFrame({'recall': [0, 0.5, 1], 'precision': [1, 0.9, 0.5], 'label': 'face'}).to_csv(
        tmp_path / 'pr_curves.csv', index=False)
    report = evaluation.load_evaluation(tmp_path)
    kinds = [b.path.name if isinstance(b, evaluation.Figure) else b.splitlines()[0] for b in report.blocks]
    assert kinds == ['# Accuracy', '| AP | 0.9 |', 'pr_face.png', kinds[3], 'pr_classes.png']
    assert kinds[3].startswith('Per class') and not any('![' in b for b in report.blocks if isinstance(b, str))
    assert [f.path.name for f in report.other_figures] == ['pr_extra.png']      # sizes.png is not a P-R plot
    assert [name for name, _ in report.pr_tables] == ['pr_curves']
    assert any('gone.png' in p for p in report.problems)


# ---- the Streamlit pages (AppTest) ---------------------------------------------------------------------

@pytest.fixture
def app(runs_dir, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv('MASKHUB_RUNS_DIR', str(runs_dir))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.sidebar.multiselect(key='selected_runs').set_value(['small']).run()
    assert not at.exception, at.exception
    return at


def metric_values(at):
    return {m.label: m.value for m in at.metric}


def show(at, view):
    at.sidebar.radio(key='view').set_value(view).run()
    assert not at.exception, at.exception
    return at


def test_app_overview(app, small_run):
    values = metric_values(app)
    s = small_run.summary
    assert values['Images'] == str(s['images']) and values['Faces'] == str(s['faces'])
    assert values['MASK'] == str(s['mask']) and values['NO MASK'] == str(s['no_mask'])
    assert values['Images with no face'] == '1'
    assert values['Compliance rate'] == '%.1f%%' % (100 * s['compliance_rate'])
    assert not app.error


def test_app_table_filters(app, small_run):
    show(app, 'Table')
    faces = small_run.predictions
    assert app.caption[0].value.startswith('%d of %d faces' % (len(faces), len(faces)))
    app.multiselect(key='table_labels').set_value(['NO MASK']).run()
    assert app.caption[0].value.startswith('%d of' % (faces['label'] == 'NO MASK').sum())
    app.text_input(key='table_path').input('no-such-path').run()
    assert app.caption[0].value.startswith('0 of')


def test_app_viewer_steps_and_gallery_links_back(app, small_run):
    show(app, 'Viewer')
    assert app.number_input(key='viewer_pos').value == 1
    app.button(key='viewer_next').click().run()
    assert app.number_input(key='viewer_pos').value == 2
    assert not app.warning, [w.value for w in app.warning]
    app.radio(key='viewer_mode').set_value('NO MASK gallery').run()
    assert not app.exception
    open_buttons = [b for b in app.button if b.key and b.key.startswith('gallery_open_')]
    assert len(open_buttons) == min(24, int((small_run.predictions['label'] == 'NO MASK').sum()))
    face = small_run.predictions.loc[int(open_buttons[-1].key.rsplit('_', 1)[1])]
    open_buttons[-1].click().run()
    assert app.sidebar.radio(key='view').value == 'Viewer' and app.radio(key='viewer_mode').value == 'Image'
    assert any(Path(face['path']).name in m.value for m in app.markdown)


def test_app_compare_two_runs(app):
    show(app, 'Compare')
    app.selectbox(key='compare_a').set_value('small').run()
    app.selectbox(key='compare_b').set_value('small_shrink08').run()
    assert not app.exception, app.exception
    values = metric_values(app)
    a, b = runs.load_run(app_runs_dir(app) / 'small'), runs.load_run(app_runs_dir(app) / 'small_shrink08')
    assert values['Faces in A'] == str(len(a.predictions)) and values['Faces in B'] == str(len(b.predictions))
    assert int(values['Matched']) + int(values['Only in A']) == len(a.predictions)


def app_runs_dir(at):
    import os
    return Path(os.environ['MASKHUB_RUNS_DIR'])


def test_app_bad_run_gives_a_message_not_a_traceback(app):
    app.sidebar.multiselect(key='selected_runs').set_value(['small', 'broken']).run()
    assert not app.exception
    assert any('broken' in e.value and 'did not finish' in e.value for e in app.error)
    assert metric_values(app)['Faces']      # the good run is still shown


def test_app_detect_and_evaluation_pages_render(app):
    show(app, 'Detect')
    assert app.button(key='detect_run').disabled      # nothing uploaded yet
    assert 'mobile' in app.selectbox(key='detect_model').options
    show(app, 'Evaluation')
    assert not app.error


def test_app_detect_result_is_shown_and_saved(app, mobile_detector, example_images, runs_dir, tmp_path):
    """The Detect page after a detection (uploads cannot be driven by AppTest: the browser test does that)."""
    image = real_images(example_images, 3)[1]
    work = detect.new_run_dir(tmp_path)
    detect.detect_uploads(mobile_detector, [(image.name, image.read_bytes())], work)
    label = 'unsaved: ' + work.name
    app.session_state['detect_runs'] = {label: str(work)}
    app.session_state['detect_last'] = label
    app.session_state['select_next'] = label
    show(app, 'Detect')
    assert label in app.sidebar.multiselect(key='selected_runs').value
    assert any(h.value == 'Result: ' + label for h in app.subheader)
    app.text_input(key='detect_save_name').input('saved-upload').run()
    app.button(key='detect_save').click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert (runs_dir / 'saved-upload' / 'predictions.parquet').exists()
    assert app.sidebar.multiselect(key='selected_runs').value == ['small', 'saved-upload']
    assert any('Saved to' in s.value for s in app.success)
    shutil.rmtree(runs_dir / 'saved-upload')
