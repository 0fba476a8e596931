"""The PaddleHub modules: `hub install` / `hub run` / `hub.Module(directory=...)` of the maskhub modules,
modules without weights refusing to load, and `--model paddlehub:<name>` on a module in Baidu's
on-disk format built here (a tiny static inference model + a `@moduleinfo` module.py)."""
import ast
import shutil
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import REPO, TEST_DATA
from maskhub.inference.registry import ModelNotFound
from maskhub.serving.codec import image_to_base64
from maskhub.serving.server import hub_command, hub_env, hub_install

HUB_MODULES = REPO / 'hub_modules'
MOBILE_MODULE = HUB_MODULES / 'pyramidbox_lite_mobile_mask'
MODULE_NAMES = ['pyramidbox_lite_mobile_mask', 'pyramidbox_lite_server_mask', 'pyramidbox_lite_mobile_crowd_mask']
IMAGES = sorted((TEST_DATA / 'reference' / 'images').glob('*.jpg'))


@pytest.fixture(scope='module')
def hub_home(tmp_path_factory):
    home = tmp_path_factory.mktemp('hub_home')
    hub_install(MOBILE_MODULE, home)
    return home


@pytest.fixture(scope='module')
def mobile_module():
    import paddlehub as hub
    return hub.Module(directory=str(MOBILE_MODULE))


def run_hub(args, hub_home, timeout=300):
    return subprocess.run(hub_command() + args, env=hub_env(hub_home), capture_output=True, text=True,
                          timeout=timeout)


# ---- maskhub's modules -------------------------------------------------------------------------------
def test_hub_install_copies_code_and_weights(hub_home):
    installed = hub_home / 'modules' / 'pyramidbox_lite_mobile_mask'
    for name in ('module.py', 'README.md', 'NOTICE', 'model/model.yml', 'model/detector.pdmodel',
                 'model/classifier.pdiparams'):
        assert (installed / name).is_file(), name


def test_hub_run(hub_home, mobile_detector):
    proc = run_hub(['run', 'pyramidbox_lite_mobile_mask', '--input_path', str(IMAGES[0]), '--shrink', '1.0',
                    '--confs_threshold', '0.7'], hub_home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [line for line in proc.stdout.splitlines() if line.startswith("[{'path'")]
    assert len(printed) == 1, proc.stdout[-3000:]
    result = ast.literal_eval(printed[0])
    expected = mobile_detector.face_detection(paths=[str(IMAGES[0])], shrink=1.0, confs_threshold=0.7)
    assert [f['label'] for f in result[0]['data']] == [f['label'] for f in expected[0]['data']]
    assert [f['left'] for f in result[0]['data']] == [f['left'] for f in expected[0]['data']]
    assert result[0]['path'] == str(IMAGES[0])


def test_hub_run_names_a_missing_file(mobile_module):
    import paddle
    with pytest.raises(SystemExit, match='hub run pyramidbox_lite_mobile_mask: /no/such/image.jpg: file not found'):
        mobile_module.run_cmd(['--input_path', '/no/such/image.jpg'])
    assert paddle.in_dynamic_mode()      # a failing call must not leave the process in static-graph mode


def test_module_from_directory_matches_maskdetector(mobile_module, mobile_detector):
    paths = [str(p) for p in IMAGES]
    images = [cv2.imread(p) for p in paths]
    assert mobile_module.face_detection(paths=paths) == mobile_detector.face_detection(paths=paths)
    assert mobile_module.face_detection(images=images, shrink=1.0, confs_threshold=0.7) == \
        mobile_detector.face_detection(images=images, shrink=1.0, confs_threshold=0.7)
    assert mobile_module.face_detection(data={'image': paths[:1]}) == mobile_detector.face_detection(paths=paths[:1])
    assert mobile_module.face_detection(data={'data': images[:1]}) == mobile_detector.face_detection(images=images[:1])


def test_module_metadata():
    import paddlehub as hub
    for name in MODULE_NAMES:
        info = hub.Module.load_module_info(str(HUB_MODULES / name))
        assert info.name == name and info.type == 'CV/face_detection' and info.version.startswith('2.')
        assert 'maskhub' in info.summary
    mobile = hub.Module.load_module_info(str(MOBILE_MODULE))
    assert "Baidu's official" in mobile.summary and 'converted' in mobile.summary
    server = hub.Module.load_module_info(str(HUB_MODULES / 'pyramidbox_lite_server_mask'))
    assert "maskhub's own" in server.summary and "not Baidu's weights" in server.summary


def test_visualization_writes_annotated_images(mobile_module, tmp_path):
    result = mobile_module.face_detection(paths=[str(IMAGES[0])], images=[cv2.imread(str(IMAGES[1]))],
                                          visualization=True, output_dir=str(tmp_path / 'vis'))
    assert len(result) == 2
    for name, source in (('ndarray_0.jpg', IMAGES[1]), (IMAGES[0].stem + '.jpg', IMAGES[0])):
        drawn, original = cv2.imread(str(tmp_path / 'vis' / name)), cv2.imread(str(source))
        assert drawn is not None and drawn.shape == original.shape
        assert np.abs(drawn.astype(int) - original).max() > 100     # boxes were drawn


def test_save_inference_model_round_trip(mobile_module, tmp_path):
    from maskhub import MaskDetector
    written = mobile_module.save_inference_model(str(tmp_path / 'export'))
    assert sorted(p.split('/')[-1] for p in written) == sorted(
        ['model.yml', 'detector.pdmodel', 'detector.pdiparams', 'classifier.pdmodel', 'classifier.pdiparams'])
    exported = MaskDetector(model=tmp_path / 'export', threads=2)
    paths = [str(IMAGES[0])]
    assert exported.face_detection(paths=paths) == mobile_module.face_detection(paths=paths)


def test_serving_method_in_process(mobile_module):
    encoded = [image_to_base64(p) for p in IMAGES[:2]]
    images = [cv2.imread(str(p)) for p in IMAGES[:2]]
    assert mobile_module.serving_method(images=encoded, shrink=0.6) == \
        mobile_module.face_detection(images=images, shrink=0.6)
    assert mobile_module.serving_method(images=['!'])[0]['error'].startswith('images[0]: invalid base64')


@pytest.mark.parametrize('name', MODULE_NAMES)
def test_module_without_weights_refuses_to_load(name, tmp_path):
    import paddlehub as hub
    bare = tmp_path / name
    bare.mkdir()
    shutil.copy(HUB_MODULES / name / 'module.py', bare / 'module.py')
    with pytest.raises(ModelNotFound) as err:
        hub.Module(directory=str(bare))
    message = str(err.value)
    assert name in message and 'model/model.yml is missing' in message and 'does not fall back' in message


@pytest.mark.parametrize('name', ['pyramidbox_lite_server_mask', 'pyramidbox_lite_mobile_crowd_mask'])
def test_trained_modules_run_when_their_weights_exist(name):
    import paddlehub as hub
    if not (HUB_MODULES / name / 'model' / 'model.yml').exists():
        pytest.skip('%s/model not packaged yet' % name)
    module = hub.Module(directory=str(HUB_MODULES / name))
    result = module.face_detection(paths=[str(IMAGES[0])])
    assert result[0]['path'] == str(IMAGES[0]) and isinstance(result[0]['data'], list)


# ---- a module in Baidu's on-disk format, through `maskhub predict --model paddlehub:<name>` ---------
TINY_MODULE_PY = '''
import os

import numpy as np
from paddle.inference import Config, create_predictor

from paddlehub.module.module import moduleinfo


@moduleinfo(name="tiny_official_mask", type="CV/face_detection", author="test", author_email="",
            summary="A stand-in with the official module layout and API.", version="1.0.0")
class TinyOfficialMask:
    def __init__(self):
        prefix = os.path.join(self.directory, "tiny_model", "inference")
        config = Config(prefix + ".pdmodel", prefix + ".pdiparams")
        config.disable_gpu()
        self.predictor = create_predictor(config)

    def _brightness(self, image):
        handle = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        x = (image.astype("float32") / 255.0).transpose(2, 0, 1)[None]
        handle.reshape(x.shape)
        handle.copy_from_cpu(np.ascontiguousarray(x))
        self.predictor.run()
        return float(self.predictor.get_output_handle(self.predictor.get_output_names()[0]).copy_to_cpu()[0, 0])

    def face_detection(self, images=None, paths=None, data=None, batch_size=1, use_gpu=False, visualization=False,
                       output_dir="detection_result", use_multi_scale=False, shrink=0.5, confs_threshold=0.6):
        results = []
        for image in images or []:
            b = self._brightness(image)
            h, w = image.shape[:2]
            results.append({"path": "ndarray", "data": [{
                "label": "MASK" if b > 0.5 else "NO MASK", "confidence": max(b, 1.0 - b),
                "left": w // 4, "top": h // 4, "right": int(3 * w / 4 * shrink * 2), "bottom": 3 * h // 4}]})
        return results
'''


def build_tiny_official_module(root):
    """A module directory like Baidu's: module.py with @moduleinfo + a static inference model (mean brightness)."""
    import paddle

    class MeanBrightness(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.mix = paddle.nn.Linear(3, 1)
            self.mix.weight.set_value(paddle.full([3, 1], 1 / 3.0))
            self.mix.bias.set_value(paddle.zeros([1]))

        def forward(self, x):
            return self.mix(paddle.mean(x, axis=[2, 3]))

    module_dir = root / 'tiny_official_mask'
    (module_dir / 'tiny_model').mkdir(parents=True)
    layer = MeanBrightness()
    layer.eval()
    paddle.jit.save(layer, str(module_dir / 'tiny_model' / 'inference'),
                    input_spec=[paddle.static.InputSpec([None, 3, None, None], 'float32')])
    (module_dir / 'module.py').write_text(textwrap.dedent(TINY_MODULE_PY))
    return module_dir


def install_in_process(module_dir, hub_home):
    """What `hub install <dir>` does, without starting another interpreter."""
    from paddlehub.module.manager import LocalModuleManager
    LocalModuleManager(home=str(hub_home / 'modules')).install(directory=str(module_dir))


def test_paddlehub_module_through_maskhub_predict(tmp_path):
    home = tmp_path / 'hub_home'
    install_in_process(build_tiny_official_module(tmp_path), home)
    images = tmp_path / 'images'
    images.mkdir()
    bright = np.full((60, 80, 3), 220, np.uint8)
    dark = np.full((40, 100, 3), 30, np.uint8)
    cv2.imwrite(str(images / 'bright.png'), bright)
    cv2.imwrite(str(images / 'dark.png'), dark)
    out = tmp_path / 'run'
    proc = subprocess.run([sys.executable, '-m', 'maskhub', 'predict', str(images), '--model',
                           'paddlehub:tiny_official_mask', '--shrink', '1.0', '--out', str(out), '--no-progress'],
                          env=hub_env(home), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(out / 'predictions.csv').sort_values('path').reset_index(drop=True)
    assert list(table['path'].map(lambda p: p.split('/')[-1])) == ['bright.png', 'dark.png']
    assert list(table['label']) == ['MASK', 'NO MASK']
    assert table['confidence'].tolist() == pytest.approx([220 / 255, 1 - 30 / 255], abs=1e-5)
    assert table[['left', 'top', 'right', 'bottom']].values.tolist() == [[20, 15, 120, 45], [25, 10, 150, 30]]
    assert table['face_score'].isna().all()
    assert (table['model'] == 'paddlehub:tiny_official_mask').all()
    assert table[['image_width', 'image_height']].values.tolist() == [[80, 60], [100, 40]]



def test_paddlehub_module_not_installed(tmp_path):
    from maskhub.inference.hub_module import PaddleHubModuleDetector
    with pytest.raises(ModelNotFound, match="PaddleHub module 'not_installed_module' is not installed"):
        PaddleHubModuleDetector('not_installed_module')


def test_paddlehub_detector_on_a_module_directory(mobile_detector):
    from maskhub.inference.hub_module import PaddleHubModuleDetector
    detector = PaddleHubModuleDetector(str(MOBILE_MODULE))
    assert detector.name == 'paddlehub:pyramidbox_lite_mobile_mask'
    image = cv2.imread(str(IMAGES[0]))
    got = detector.predict_image(image, 0.5, 0.6, path='a.jpg', coordinate_scale=2.0, frame=3, timestamp_s=0.1)
    want = mobile_detector.predict_image(image, 0.5, 0.6, path='a.jpg', coordinate_scale=2.0, frame=3,
                                         timestamp_s=0.1)
    assert (got.path, got.image_width, got.image_height, got.frame, got.timestamp_s) == \
        (want.path, want.image_width, want.image_height, want.frame, want.timestamp_s)
    assert len(got.faces) == len(want.faces) > 0
    for g, w in zip(got.faces, want.faces):
        assert (g.label, g.left, g.top, g.right, g.bottom) == (w.label, w.left, w.top, w.right, w.bottom)
        assert g.confidence == pytest.approx(w.confidence, abs=1e-6)
        assert g.mask_probability == pytest.approx(w.mask_probability, abs=1e-6)
        assert np.isnan(g.face_score)
