"""Batch prediction: run folders, bad input, video, resume, shards and merge, through the real CLI."""
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from maskhub.cli import main as cli
from maskhub.io.images import ImageError, png_header_only, read_image
from maskhub.io.tables import PREDICTION_COLUMNS


@pytest.fixture(scope='module')
def bad_inputs(tmp_path_factory, example_images):
    d = tmp_path_factory.mktemp('bad')
    good = cv2.imread(str(example_images[0]))
    (d / 'empty.jpg').write_bytes(b'')
    data = example_images[0].read_bytes()
    (d / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (d / 'notes.jpg').write_text('this is not an image')
    cv2.imwrite(str(d / 'grey.png'), cv2.cvtColor(good, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / 'rgba.png'), cv2.cvtColor(good, cv2.COLOR_BGR2BGRA))
    cv2.imwrite(str(d / 'deep16.png'), good.astype(np.uint16) * 257)
    (d / 'giant.png').write_bytes(png_header_only(30000, 30000))
    (d / 'broken.mp4').write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 100)
    return d


def test_read_image_conversions(bad_inputs, example_images):
    reference = read_image(example_images[0]).image
    for name in ('grey.png', 'rgba.png', 'deep16.png'):
        img = read_image(bad_inputs / name).image
        assert img.dtype == np.uint8 and img.shape == reference.shape, name
    np.testing.assert_array_equal(read_image(bad_inputs / 'rgba.png').image, reference)
    for name, reason in (('empty.jpg', 'empty'), ('truncated.jpg', 'truncated'), ('notes.jpg', 'not an image'),
                         ('giant.png', 'too large'), ('missing.jpg', 'not found')):
        with pytest.raises(ImageError) as err:
            read_image(bad_inputs / name)
        assert reason in err.value.reason and name in str(err.value)


def test_huge_image_is_processed_in_reduced_size(tmp_path, example_images):
    """A 100 MP JPEG is decoded at reduced scale; boxes come back in original pixels."""
    small = cv2.imread(str(example_images[0]))
    big = cv2.resize(small, (small.shape[1] * 25, small.shape[0] * 25), interpolation=cv2.INTER_NEAREST)
    assert big.shape[0] * big.shape[1] >= 60e6
    path = tmp_path / 'huge.jpg'
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del big
    loaded = read_image(path)
    assert loaded.scale > 1 and loaded.image.shape[0] * loaded.image.shape[1] <= 16e6


def test_predict_writes_run_folder_and_reports_bad_items(tmp_path, bad_inputs, example_images):
    out = tmp_path / 'run'
    inputs = [str(p) for p in example_images[:3]] + [str(bad_inputs), str(tmp_path / 'nope.jpg')]
    code = cli(['predict', *inputs, '--out', str(out), '--save-images', '--no-progress', '--threads', '2'])
    assert code == 1                                    # some items failed
    predictions = pd.read_csv(out / 'predictions.csv')
    assert list(predictions.columns) == PREDICTION_COLUMNS
    assert pd.read_parquet(out / 'predictions.parquet').shape == predictions.shape
    errors = pd.read_csv(out / 'errors.csv')
    failed = {Path(p).name: e for p, e in zip(errors['path'], errors['error'])}
    assert set(failed) == {'empty.jpg', 'truncated.jpg', 'notes.jpg', 'giant.png', 'broken.mp4', 'nope.jpg'}
    assert 'too large' in failed['giant.png'] and 'video' in failed['broken.mp4']
    # converted images (grey, RGBA, 16-bit) were processed like the colour original
    by_image = predictions.groupby(predictions['path'].map(lambda p: Path(p).name)).size()
    assert by_image.get('rgba.png') == by_image.get(example_images[0].name)
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['errors'] == 6 and summary['images'] == 6
    assert summary['faces'] == len(predictions) > 0
    assert summary['mask'] + summary['no_mask'] == summary['faces']
    saved = sorted(p.name for p in (out / 'images').iterdir())
    assert saved == sorted([p.name for p in example_images[:3]] + ['deep16.png', 'grey.png', 'rgba.png'])


def test_video_frames_get_frame_and_timestamp(tmp_path, example_images):
    frame = cv2.resize(cv2.imread(str(example_images[0])), (400, 300))
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (400, 300))
    for _ in range(10):
        writer.write(frame)
    writer.release()
    out = tmp_path / 'run'
    assert cli(['predict', str(path), '--out', str(out), '--every-n', '3', '--no-progress']) == 0
    df = pd.read_csv(out / 'predictions.csv')
    assert sorted(df['frame'].unique()) == [0, 3, 6, 9]
    assert sorted(df['timestamp_s'].unique()) == pytest.approx([0.0, 0.3, 0.6, 0.9])
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames'] == 4 and summary['images'] == 0 and summary['videos'] == 1
    images = pd.read_csv(out / 'images.csv')          # one row per sampled frame, faces counted per frame
    assert list(images['frame']) == [0, 3, 6, 9] and (images['status'] != 'error').all()
    assert list(images['faces']) == list(df.groupby('frame').size().reindex([0, 3, 6, 9], fill_value=0))


def test_resume_skips_finished_items(tmp_path, example_images):
    out = tmp_path / 'run'
    first = [str(p) for p in example_images[:2]]
    assert cli(['predict', *first, '--out', str(out), '--no-progress']) == 0
    journal_before = (out / 'journal.jsonl').read_text().splitlines()
    assert cli(['predict', *[str(p) for p in example_images[:4]], '--out', str(out), '--resume', '--no-progress']) == 0
    journal_after = (out / 'journal.jsonl').read_text().splitlines()
    assert journal_after[:2] == journal_before and len(journal_after) == 4
    assert json.loads((out / 'summary.json').read_text())['images'] == 4


def test_shards_partition_the_input_and_merge_back(tmp_path, example_images):
    folder = str(example_images[0].parent)
    assert cli(['predict', folder, '--out', str(tmp_path / 'all'), '--no-progress']) == 0
    for i in range(2):
        assert cli(['predict', folder, '--out', str(tmp_path / f's{i}'), '--num-shards', '2',
                    '--shard-index', str(i), '--no-progress']) == 0
    paths = [set(pd.read_csv(tmp_path / f's{i}' / 'predictions.csv')['path']) for i in range(2)]
    assert not paths[0] & paths[1]
    assert cli(['merge', str(tmp_path / 's0'), str(tmp_path / 's1'), '--out', str(tmp_path / 'merged')]) == 0
    merged = pd.read_csv(tmp_path / 'merged' / 'predictions.csv').sort_values(['path', 'id']).reset_index(drop=True)
    single = pd.read_csv(tmp_path / 'all' / 'predictions.csv').sort_values(['path', 'id']).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, single)
