"""Dashboard: data logic (maskhub.dashboard.*) and the Streamlit pages (AppTest) on small real runs."""
import json
import re
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
from maskhub.dashboard.views import charts
from maskhub.io.tables import PREDICTION_COLUMNS

from conftest import real_images

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / 'streamlit_app.py')


@pytest.fixture(scope='module')
def runs_dir(tmp_path_factory, example_images):
    """A runs directory with two real runs of the same images (default and larger shrink), a run of two of
    those images, and a bad folder."""
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
    assert cli(['predict', *paths[:2], '--out', str(root / 'subset'), *common]) == 0   # other inputs, newest
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
    assert any('journal.jsonl has 1 unreadable line(s)' in w and 'cut short' in w for w in run.warnings)
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


def assert_paths_under(run, inputs):
    """Every path a saved run recorded (tables, journal, summary) is a file in its own ``inputs``."""
    inputs = inputs.resolve()
    recorded = set(run.predictions['path']) | set(run.items['path']) | set(run.summary['options']['inputs'])
    for name in ('images.csv', 'errors.csv'):                         # images.csv: newer run folders
        if (run.run_dir / name).exists() and (run.run_dir / name).stat().st_size:
            recorded |= set(pd.read_csv(run.run_dir / name)['path'].dropna())
    assert recorded and all(Path(p).parent == inputs and Path(p).is_file() for p in recorded), recorded
    assert len(set(pd.read_csv(run.run_dir / 'predictions.csv')['path'])) == len(set(run.predictions['path']))


def test_detect_uploads_make_a_run_that_can_be_saved(mobile_detector, example_images, tmp_path):
    image = real_images(example_images, 3)[0]
    work = detect.new_run_dir(tmp_path / 'session')
    uploads = [(image.name, image.read_bytes()), ('a b.JPG', image.read_bytes())]
    summary = detect.detect_uploads(mobile_detector, uploads, work, shrink=0.5, confs_threshold=0.6)
    assert summary['images'] == 2 and summary['faces'] > 0 and summary['errors'] == 0
    assert sorted(p.name for p in (work / 'inputs').iterdir()) == sorted([image.name, 'a_b.JPG'])
    saved = detect.save_run(work, tmp_path / 'runs', 'uploaded-1')
    shutil.rmtree(work)                             # the session's folder goes away with the session
    run = runs.load_run(saved)
    assert len(run.predictions) == summary['faces'] and not run.warnings
    assert_paths_under(run, saved / 'inputs')
    with pytest.raises(detect.DetectError, match='already exists'):
        detect.save_run(work, tmp_path / 'runs', 'uploaded-1')
    with pytest.raises(detect.DetectError, match='run name'):
        detect.save_run(work, tmp_path / 'runs', '../escape')
    with pytest.raises(detect.DetectError, match='not an image or video'):
        detect.detect_uploads(mobile_detector, [('notes.txt', b'hello')], tmp_path / 'x')
    with pytest.raises(detect.DetectError, match='at least one'):
        detect.detect_uploads(mobile_detector, [], tmp_path / 'y')


VOC_NAMES = {'MASK': 'with_mask', 'NO MASK': 'without_mask'}


def write_voc(folder, images):
    """A VOC ground-truth folder: ``images`` maps an image file to its faces [(label, [x1, y1, x2, y2])]."""
    (folder / 'annotations').mkdir(parents=True)
    (folder / 'images').mkdir()
    for image, faces in images.items():
        shutil.copy(image, folder / 'images' / Path(image).name)
        h, w = cv2.imread(str(image)).shape[:2]
        objects = ''.join('<object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>'
                          '<ymax>%d</ymax></bndbox></object>' % (VOC_NAMES[label], *box) for label, box in faces)
        (folder / 'annotations' / (Path(image).stem + '.xml')).write_text(
            '<annotation><filename>%s</filename><size><width>%d</width><height>%d</height><depth>3</depth></size>'
            '%s</annotation>' % (Path(image).name, w, h, objects))
    return folder


@pytest.fixture(scope='module')
def ground_truth(tmp_path_factory, small_run):
    """Ground truth for the small run's images: its own faces, one label flipped and one face added
    that the run did not find (24 px wide, away from every detection) -> known recall, accuracy, AP."""
    faces = small_run.predictions.sort_values(['path', 'id'])
    images = {p: [] for p in small_run.items['path']}        # the blank image too: no face in it
    for row in faces.itertuples():
        images[row.path].append((row.label, [row.left, row.top, row.right, row.bottom]))
    first = faces['path'].iloc[0]
    label, box = images[first][0]
    images[first][0] = ('MASK' if label == 'NO MASK' else 'NO MASK', box)
    images[first].append(('MASK', [0, 0, 24, 24]))
    assert not any(r.left < 30 and r.top < 30 for r in faces[faces['path'] == first].itertuples())
    return write_voc(tmp_path_factory.mktemp('gt') / 'voc', images), len(faces)


def expected_face_ap(found, faces):
    """COCO's 101-point interpolated AP when every detection is a hit and ``found`` of ``faces`` are found."""
    return float(np.mean(np.linspace(0, 1, 101) <= found / faces + 1e-12))


def test_evaluate_run_against_voc_ground_truth(small_run, ground_truth):
    folder, n = ground_truth
    samples = evaluation.load_ground_truth(evaluation.VOC, folder)
    result = evaluation.evaluate_run(small_run, samples)
    assert result.images == 4 and result.by == 'name' and not result.not_in_run     # copied images: by name
    at = result.metrics['at_score']
    assert result.metrics['faces'] == n + 1
    assert at['recall']['all']['found'] == n and at['precision'] == 1.0
    assert at['recall']['16-32']['faces'] >= 1
    assert at['mask_accuracy'] == {'matched_labelled': n, 'correct': n - 1, 'accuracy': (n - 1) / n}
    assert result.metrics['ap']['face']['ap'] == pytest.approx(expected_face_ap(n, n + 1))
    assert result.per_image['missed'].sum() == 1 and result.per_image['false_positives'].sum() == 0
    # a stricter operating score drops the detections below it
    strict = evaluation.evaluate_run(small_run, samples, score=1.0)
    assert strict.metrics['at_score']['recall']['all']['found'] == 0


def test_evaluate_run_against_wider_ground_truth(small_run, tmp_path):
    """WIDER format: the run's faces of one image as ground truth (one heavily occluded), plus an
    'invalid' face that must neither count as missed nor absorb a detection."""
    path = Path(small_run.predictions['path'].iloc[0])
    rows = small_run.predictions[small_run.predictions['path'] == str(path)]
    lines = ['%d %d %d %d 0 0 0 0 %d 0' % (r.left, r.top, r.right - r.left, r.bottom - r.top, 2 if k == 0 else 0)
             for k, r in enumerate(rows.itertuples())] + ['0 0 10 10 0 0 0 1 0 0']
    gt = tmp_path / 'wider_face_val_bbx_gt.txt'
    gt.write_text('%s\n%d\n%s\n' % (path.name, len(lines), '\n'.join(lines)))
    samples = evaluation.load_ground_truth(evaluation.WIDER, gt, images_root=path.parent)
    result = evaluation.evaluate_run(small_run, samples)
    assert result.by == 'path' and result.images == 1 and result.metrics['faces'] == len(rows)
    assert result.metrics['at_score']['recall']['all']['recall'] == 1.0 and result.metrics['at_score']['precision'] == 1.0
    assert result.headline['mask_ap'] is None                     # WIDER has no mask labels
    table = evaluation.attribute_recall_table(result.metrics)
    heavy = table[(table['attribute'] == 'occlusion') & (table['value'] == 'heavy')]
    assert (heavy['faces'].item(), heavy['found'].item()) == (1, 1)
    assert result.not_in_ground_truth == len(small_run.items) - 1


def test_ground_truth_errors_are_one_line(tmp_path, small_run, ground_truth):
    with pytest.raises(evaluation.GroundTruthError, match='not a folder'):
        evaluation.load_ground_truth(evaluation.VOC, tmp_path / 'nope')
    with pytest.raises(evaluation.GroundTruthError, match='no annotations/ folder'):
        evaluation.load_ground_truth(evaluation.VOC, tmp_path)
    with pytest.raises(evaluation.GroundTruthError, match='not a file'):
        evaluation.load_ground_truth(evaluation.WIDER, tmp_path)
    gt = tmp_path / 'wider_gt.txt'
    gt.write_text('event/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n')
    with pytest.raises(evaluation.GroundTruthError, match='images folder .* does not exist'):
        evaluation.load_ground_truth(evaluation.WIDER, gt)
    (tmp_path / 'images').mkdir()
    samples = evaluation.load_ground_truth(evaluation.WIDER, gt)
    assert len(samples) == 1 and samples[0].labels == [None]
    with pytest.raises(evaluation.GroundTruthError, match='none of the 1 ground-truth images is in run'):
        evaluation.evaluate_run(small_run, samples)
    bad = tmp_path / 'bad' / 'annotations'
    bad.mkdir(parents=True)
    (bad / 'x.xml').write_text('<annotation><size>')
    with pytest.raises(evaluation.GroundTruthError, match='cannot be read as VOC'):
        evaluation.load_ground_truth(evaluation.VOC, bad.parent)


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


def page_text(at):
    """Every text the page shows: titles, headings, markdown, captions, notices and metric labels."""
    parts = [e.value for kind in ('title', 'header', 'subheader', 'markdown', 'caption', 'info', 'warning',
                                  'success', 'error') for e in getattr(at, kind)]
    return '\n'.join(parts + [m.label for m in at.metric])


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


def vega_charts(at):
    """(spec, first dataset as a DataFrame) of every Altair chart on the page."""
    import pyarrow as pa
    out = []
    for chart in at.get('arrow_vega_lite_chart'):
        data = chart.proto.datasets[0].data.data if len(chart.proto.datasets) else None
        out.append((json.loads(chart.proto.spec), pa.ipc.open_stream(data).read_pandas() if data else None))
    return out


def test_app_compliance_chart_has_one_labelled_bar_per_group(app, runs_dir):
    app.sidebar.multiselect(key='selected_runs').set_value(['small', 'small_shrink08', 'subset']).run()
    app.radio(key='overview_group').set_value('run').run()
    assert not app.exception, app.exception
    spec, data = vega_charts(app)[0]
    assert spec['height'] == charts.compliance_chart_height(3) == 3 * charts.BAR_STEP_PX
    assert spec['usermeta']['embedOptions']['renderer'] == 'svg'
    assert sorted(data['group']) == ['small', 'small_shrink08', 'subset']
    for run in ('small', 'small_shrink08', 'subset'):
        faces = runs.load_run(runs_dir / run).predictions
        mask = int((faces['label'] == 'MASK').sum())
        label = data.loc[data['group'] == run, 'bar_label'].item()
        assert label == '%.0f%% · %d of %d faces' % (100 * mask / len(faces), mask, len(faces))
    app.radio(key='overview_group').set_value('folder').run()       # the images of these runs: one folder
    spec, data = vega_charts(app)[0]
    folder = Path(data['folder'].item())
    assert spec['height'] == charts.compliance_chart_height(1)
    assert data['group'].tolist() == ['…/%s/%s' % (folder.parent.name, folder.name)]   # the path's end


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


def test_comparable_runs_are_found_by_their_inputs(runs_dir):
    small, shrink08, subset = (runs.load_run(runs_dir / n) for n in ('small', 'small_shrink08', 'subset'))
    inputs = [compare.input_paths(r) for r in (small, subset, shrink08)]
    assert len(inputs[0]) == 4                                  # the image without a face counts too
    assert compare.default_pair(inputs) == (0, 2)               # same inputs, though not listed next
    overlap = compare.input_overlap(inputs[0], inputs[1])
    assert not overlap['same'] and (overlap['both'], overlap['only_a'], overlap['only_b']) == (2, 2, 0)
    moved = frozenset('/elsewhere/' + Path(p).name for p in inputs[0])
    assert compare.input_overlap(inputs[0], moved) == {**compare.input_overlap(inputs[0], moved), 'by': 'name',
                                                       'same': True}
    assert compare.default_pair([inputs[0], frozenset({'/x/a.jpg'})]) == (0, 1)    # nothing better: the first two


def test_app_compare_opens_on_comparable_runs_and_warns_otherwise(app, runs_dir):
    show(app, 'Compare')
    assert (app.selectbox(key='compare_a').value, app.selectbox(key='compare_b').value) == ('small', 'small_shrink08')
    assert not app.warning, [w.value for w in app.warning]
    a, b = runs.load_run(runs_dir / 'small'), runs.load_run(runs_dir / 'small_shrink08')
    values = metric_values(app)
    assert values['Faces in A'] == str(len(a.predictions)) and values['Faces in B'] == str(len(b.predictions))
    assert int(values['Matched']) + int(values['Only in A']) == len(a.predictions)

    app.selectbox(key='compare_b').set_value('subset').run()
    assert not app.exception, app.exception
    warning = ' '.join(w.value for w in app.warning)
    assert 'not made from the same inputs' in warning and '2 images are in both, 2 only in A, 0 only in B' in warning
    assert '`small_shrink08`' in warning                     # the comparable run is named
    shared = set(runs.load_run(runs_dir / 'subset').items['path'])
    values = metric_values(app)
    assert values['Faces in A'] == str(int(a.predictions['path'].isin(shared).sum()))


def app_runs_dir(at):
    import os
    return Path(os.environ['MASKHUB_RUNS_DIR'])


def test_app_bad_run_gives_a_message_not_a_traceback(app):
    app.sidebar.multiselect(key='selected_runs').set_value(['small', 'broken']).run()
    assert not app.exception
    assert any('broken' in e.value and 'did not finish' in e.value for e in app.error)
    assert metric_values(app)['Faces']      # the good run is still shown


def test_app_detect_page_renders(app):
    show(app, 'Detect')
    assert app.button(key='detect_run').disabled      # nothing uploaded yet
    assert 'mobile' in app.selectbox(key='detect_model').options


def test_app_evaluation_scores_the_selected_run(app, ground_truth, tmp_path):
    folder, n = ground_truth
    show(app, 'Evaluation')
    assert app.selectbox(key='eval_run').value == 'small' and not app.error
    app.text_input(key='eval_voc').input(str(tmp_path)).run()           # no annotations there
    app.button(key='eval_go').click().run()
    assert not app.exception and len(app.error) == 1 and 'no annotations/ folder' in app.error[0].value
    app.text_input(key='eval_voc').input(str(folder)).run()
    app.button(key='eval_go').click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    values = metric_values(app)
    assert values['Recall'] == '%.1f%%' % (100 * n / (n + 1)) and values['Precision'] == '100.0%'
    assert values['Mask accuracy'] == '%.1f%%' % (100 * (n - 1) / n)
    assert values['Face AP@0.5'] == '%.1f%%' % (100 * expected_face_ap(n, n + 1))
    assert any('4 images of run `small`' in c.value for c in app.caption)
    assert not re.search(r'\bgoal\b|\bissue\b|\bmet\b', page_text(app), re.IGNORECASE)   # no project wording


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
    saved = runs_dir / 'saved-upload'
    assert app.sidebar.multiselect(key='selected_runs').value == ['small', 'saved-upload']
    assert any('Saved to' in s.value for s in app.success)
    shutil.rmtree(work)                             # the unsaved copy is gone: the saved run still shows
    assert_paths_under(runs.load_run(saved), saved / 'inputs')
    app.sidebar.multiselect(key='selected_runs').set_value(['saved-upload']).run()
    show(app, 'Viewer')
    assert not app.warning and app.get('imgs'), [w.value for w in app.warning]
    assert str(saved.resolve() / 'inputs' / image.name) in app.get('imgs')[0].proto.imgs[0].caption
    shutil.rmtree(saved)
