"""`hub serving start` of the mobile module: a real server on a loopback port, real HTTP, real images,
compared with ``MaskDetector('mobile')`` on the same images; bad requests; multiprocess; the load test."""
import dataclasses
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from conftest import REPO, TEST_DATA
from maskhub.cli import main as cli
from maskhub.config import load_builtin_config
from maskhub.serving import loadtest
from maskhub.serving.codec import Base64Error, base64_to_bytes, bytes_to_base64, image_to_base64
from maskhub.serving.limits import ServingLimits
from maskhub.serving.server import HubServer
from maskhub.serving.service import predict_base64_images
from maskhub.serving.validation import PredictOptions, RequestError, parse_options

MOBILE_MODULE = REPO / 'hub_modules' / 'pyramidbox_lite_mobile_mask'
IMAGES = sorted((TEST_DATA / 'reference' / 'images').glob('*.jpg'))
SERVER_MAX_REQUEST_MB = 2


def assert_same_results(actual, expected):
    """Same images, labels and boxes; confidences equal up to float noise."""
    assert [r['path'] for r in actual] == [r['path'] for r in expected]
    for got, want in zip(actual, expected):
        assert len(got['data']) == len(want['data']), got['path']
        for g, w in zip(got['data'], want['data']):
            assert {k: g[k] for k in ('label', 'left', 'top', 'right', 'bottom')} == \
                   {k: w[k] for k in ('label', 'left', 'top', 'right', 'bottom')}
            assert g['confidence'] == pytest.approx(w['confidence'], abs=1e-5)


@pytest.fixture(scope='module')
def hub_home(tmp_path_factory):
    return tmp_path_factory.mktemp('hub_home')


@pytest.fixture(scope='module')
def server(hub_home):
    # installed with PaddleHub's own installer in-process; the `hub install` CLI is tested in test_hub_modules
    from paddlehub.module.manager import LocalModuleManager
    LocalModuleManager(home=str(hub_home / 'modules')).install(directory=str(MOBILE_MODULE))
    server = HubServer(MOBILE_MODULE, hub_home, env={'MASKHUB_SERVING_MAX_REQUEST_MB': str(SERVER_MAX_REQUEST_MB)})
    with server.start(install=False):
        yield server


def post(server, body, **kwargs):
    response = requests.post(server.predict_url, json=body, timeout=120, **kwargs)
    assert response.status_code == 200, response.text[:500]
    return response.json()


@pytest.fixture(scope='module')
def encoded_images():
    return [image_to_base64(p) for p in IMAGES]


@pytest.fixture(scope='module')
def bgr_images():
    return [cv2.imread(str(p)) for p in IMAGES]


# ---- over HTTP ---------------------------------------------------------------------------------------
def test_predict_matches_python_api(server, encoded_images, bgr_images, mobile_detector):
    answer = post(server, {'images': encoded_images})
    assert answer['status'] == '000' and answer['msg'] == ''
    assert_same_results(answer['results'], mobile_detector.face_detection(images=bgr_images))
    assert sum(len(r['data']) for r in answer['results']) > 0


def test_predict_options_are_applied(server, encoded_images, bgr_images, mobile_detector):
    options = {'shrink': 1.0, 'confs_threshold': 0.7, 'use_multi_scale': True}
    answer = post(server, {'images': encoded_images[:1], **options})
    assert answer['status'] == '000'
    assert_same_results(answer['results'], mobile_detector.face_detection(images=bgr_images[:1], **options))


def test_bad_images_fail_alone(server, encoded_images, bgr_images, mobile_detector):
    ok, huge = cv2.imencode('.jpg', np.zeros((10000, 10000), np.uint8))     # a real 100 MP JPEG
    assert ok
    body = {'images': [encoded_images[0], 'this is not base64!', bytes_to_base64(b'plain text, not an image'),
                       bytes_to_base64(huge.tobytes()), 12345, '']}
    answer = post(server, body)
    assert answer['status'] == '000'
    results = answer['results']
    assert [r['path'] for r in results] == ['ndarray_%d' % i for i in range(6)]
    assert_same_results(results[:1], mobile_detector.face_detection(images=bgr_images[:1]))
    assert 'error' not in results[0]
    errors = [r['error'] for r in results[1:]]
    assert all(r['data'] == [] for r in results[1:])
    assert errors[0].startswith('images[1]: invalid base64')
    assert errors[1].startswith('images[2]: not an image')
    assert errors[2].startswith('images[3]: image too large: 10000x10000 = 100 MP (limit 64 MP)')
    assert errors[3] == 'images[4]: expected a base64 string, got int'
    assert errors[4] == 'images[5]: empty file (0 bytes)'


def test_detector_input_is_bounded(server, encoded_images, bgr_images, mobile_detector):
    ok, six_mp = cv2.imencode('.jpg', np.zeros((2000, 3000, 3), np.uint8))
    answer = post(server, {'images': [bytes_to_base64(six_mp.tobytes()), encoded_images[0]], 'shrink': 2.0})
    assert answer['status'] == '000'
    assert answer['results'][0]['error'] == ('images[0]: shrink 2 on this 3000x2000 image gives a 24 MP detector '
                                             'input (limit 2 MP): send a smaller shrink or image')
    expected = mobile_detector.face_detection(images=bgr_images[:1], shrink=2.0)
    expected[0]['path'] = 'ndarray_1'
    assert_same_results(answer['results'][1:], expected)


def test_detector_input_limit_counts_multi_scale_passes(mobile_detector, encoded_images):
    limits = ServingLimits(max_detector_pixels=50_000)        # 400x258 = 103 kpx; x 0.2^2 = 4 kpx; x 0.9^2 = 84 kpx
    assert 'error' not in predict_base64_images(mobile_detector, encoded_images[:1], {'shrink': 0.2}, limits)[0]
    refused = predict_base64_images(mobile_detector, encoded_images[:1], {'shrink': 0.2, 'use_multi_scale': True},
                                    limits)
    assert refused[0]['error'].startswith('images[0]: shrink 0.9 on this 400x258 image gives a 0.0836 MP '
                                          'detector input (limit 0.05 MP)')


@pytest.mark.parametrize('body, message', [
    ({}, 'missing "images"'),
    ({'images': []}, '"images" is empty'),
    ({'images': 'abc'}, '"images" must be a list'),
    ({'images': ['x'] * 17}, 'too many images: 17 (limit 16'),
    ({'images': ['A' * (SERVER_MAX_REQUEST_MB * 2**20 + 4)]}, 'request too large: 2.0 MB'),
    ({'images': ['x'], 'shrink': 'big'}, "shrink must be a number, got str 'big'"),
    ({'images': ['x'], 'shrink': True}, 'shrink must be a number, got bool'),
    ({'images': ['x'], 'shrink': 0}, 'shrink must be in (0, 4]'),
    ({'images': ['x'], 'shrink': None}, 'shrink must be a number, got NoneType'),
    ({'images': ['x'], 'confs_threshold': 2}, 'confs_threshold must be in [0, 1], got 2'),
    ({'images': ['x'], 'confs_threshold': '0.5'}, 'confs_threshold must be a number, got str'),
    ({'images': ['x'], 'use_multi_scale': 'yes'}, 'use_multi_scale must be true or false'),
    ({'images': ['x'], 'batch_size': 0}, 'batch_size must be a positive integer'),
    ({'images': ['x'], 'paths': ['/etc/hostname']}, "'paths' not accepted over HTTP"),
    ({'images': ['x'], 'data': {'image': ['/etc/hostname']}}, "'data' not accepted over HTTP"),
    ({'images': ['x'], 'visualization': True, 'output_dir': '/tmp'}, "'visualization', 'output_dir' not accepted"),
    ({'images': ['x'], 'treshold': 0.5}, "unknown field(s) 'treshold'"),
])
def test_bad_requests_get_a_clear_message(server, body, message):
    answer = post(server, body)
    assert answer['status'] == '101', answer
    assert answer['results'] == ''
    assert message in answer['msg']


PROTOCOL_CASES = {
    'not JSON': (dict(data='{"images": [', headers={'Content-Type': 'application/json'}), 400,
                 'body is not valid JSON'),
    'nested 100,000 deep': (dict(data='[' * 100_000 + ']' * 100_000, headers={'Content-Type': 'application/json'}),
                            400, 'JSON nested too deeply'),
    'JSON list': (dict(json=['abc']), 400, 'body must be a JSON object {"images": ["<base64>", ...]}, got a JSON list'),
    'JSON string': (dict(json='abc'), 400, 'got a JSON string'),
    'JSON null': (dict(data='null', headers={'Content-Type': 'application/json'}), 400, 'got a JSON null'),
    'no Content-Type': (dict(data=b'{"images": []}'), 415, 'Content-Type must be application/json, got none'),
    'form Content-Type': (dict(data={'images': 'abc'}), 415,
                          "Content-Type must be application/json, got 'application/x-www-form-urlencoded'"),
    'too large': (dict(data=b'{"images": ["' + b'A' * ((SERVER_MAX_REQUEST_MB + 2) << 20) + b'"]}',
                       headers={'Content-Type': 'application/json'}), 413, 'request body too large'),
}


def check_protocol_errors(base_url, predict_url):
    for name, (kwargs, code, message) in PROTOCOL_CASES.items():
        response = requests.post(predict_url, timeout=60, **kwargs)
        assert response.status_code == code, (name, response.text[:300])
        assert response.headers['Content-Type'] == 'application/json', name
        answer = response.json()
        assert answer['status'] == '101' and answer['results'] == '' and message in answer['msg'], (name, answer)
    wrong_method = requests.get(predict_url, timeout=30)
    assert wrong_method.status_code == 405
    assert wrong_method.json()['msg'].startswith('method GET not allowed: POST {"images"')
    unknown_module = requests.post(base_url + '/predict/no_such_module', json={'images': []}, timeout=30).json()
    assert unknown_module['status'] == '111'


def test_protocol_errors_are_the_protocols_json_under_hub_serving(server, encoded_images):
    check_protocol_errors(server.base_url, server.predict_url)
    assert post(server, {'images': encoded_images[:1]})['status'] == '000'       # and it keeps answering


@pytest.fixture(scope='module')
def png_variants(tmp_path_factory):
    """The same photo as colour, greyscale, 16-bit and palette PNG, plus a flat 8000x8000 RGB PNG."""
    from PIL import Image
    d = tmp_path_factory.mktemp('png')
    photo = cv2.imread(str(IMAGES[1]))
    cv2.imwrite(str(d / 'rgb.png'), photo)
    cv2.imwrite(str(d / 'grey.png'), cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(d / 'deep16.png'), photo.astype(np.uint16) * 257)
    Image.fromarray(photo[:, :, ::-1]).quantize(64).save(d / 'palette.png')
    cv2.imwrite(str(d / 'flat8000.png'), np.full((8000, 8000, 3), 120, np.uint8))
    return d


def test_png_variants_decode_under_hub_serving(server, png_variants, mobile_detector):
    from maskhub.io.images import read_image
    names = ['rgb.png', 'grey.png', 'deep16.png', 'palette.png']
    answer = post(server, {'images': [image_to_base64(png_variants / n) for n in names]})
    assert answer['status'] == '000'
    expected = mobile_detector.face_detection(images=[read_image(png_variants / n).image for n in names])
    assert_same_results(answer['results'], expected)
    assert all('error' not in r for r in answer['results'])
    assert len(answer['results'][2]['data']) == len(answer['results'][0]['data']) > 0      # 16-bit = 8-bit
    # the PNG that killed the process (SIGSEGV in inflateReset2): decoded at 1/4 (above 8 MP), answered at
    # the default shrink, refused by the detector limit at a large one
    flat = image_to_base64(png_variants / 'flat8000.png')
    assert post(server, {'images': [flat]})['results'] == [{'path': 'ndarray_0', 'data': []}]
    refused = post(server, {'images': [flat], 'shrink': 1})['results'][0]
    assert refused['error'].startswith('images[0]: shrink 1 on this 2000x2000 image gives a 4 MP detector input '
                                       '(limit 2 MP)')
    assert server.process.poll() is None
    # this server runs PaddleHub's own `hub serving start`: Paddle loaded first, zlib bound to its copy,
    # so the PNGs were decoded by the clean helper process
    assert 'images other than JPEG are decoded in a helper process' in server.log_tail(200_000)
    assert any('maskhub.io.clean_decoder' in cmd for cmd in child_commands(server.process.pid))


def child_commands(pid):
    out = []
    for proc in Path('/proc').iterdir():
        try:
            if proc.name.isdigit() and f'PPid:\t{pid}\n' in (proc / 'status').read_text():
                out.append((proc / 'cmdline').read_bytes().replace(b'\0', b' ').decode())
        except OSError:
            pass
    return out


def test_multiprocess_workers(server, hub_home, encoded_images, bgr_images, mobile_detector):
    expected = mobile_detector.face_detection(images=bgr_images[:2])
    answers = []
    with HubServer(MOBILE_MODULE, hub_home, workers=2, env={'MASKHUB_THREADS': '1'}).start(install=False) as mp:
        def client():
            for _ in range(2):
                answers.append(requests.post(mp.predict_url, json={'images': encoded_images[:2]}, timeout=120).json())
        threads = [threading.Thread(target=client) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(answers) == 4
    for answer in answers:
        assert answer['status'] == '000', answer
        assert_same_results(answer['results'], expected)


def test_maskhub_app_answers_protocol_errors_and_pngs(hub_home, encoded_images, bgr_images, mobile_detector,
                                                      png_variants):
    with HubServer(MOBILE_MODULE, hub_home, launcher='app', max_request_mb=SERVER_MAX_REQUEST_MB + 1) as app:
        check_protocol_errors(app.base_url, app.predict_url)
        not_found = requests.post(app.base_url + '/nowhere', json={}, timeout=30)
        assert not_found.status_code == 404 and not_found.json()['status'] == '101'
        answer = requests.post(app.predict_url, json={'images': encoded_images[:1]}, timeout=60).json()
        assert answer['status'] == '000'
        assert_same_results(answer['results'], mobile_detector.face_detection(images=bgr_images[:1]))
        refused = requests.post(app.predict_url, json={'images': [], 'shrink': 1}, timeout=60).json()
        assert refused == {'status': '101', 'msg': '"images" is empty: send at least one base64 image',
                           'results': ''}
        grey = requests.post(app.predict_url, json={'images': [image_to_base64(png_variants / 'grey.png')]},
                             timeout=60).json()
        assert grey['status'] == '000' and grey['results'][0]['data']
        assert not any('clean_decoder' in cmd for cmd in child_commands(app.process.pid))   # zlib bound first


def test_loadtest_writes_a_report(server, tmp_path):
    report = tmp_path / 'serving.md'
    code = cli(['loadtest', '--port', str(server.port), '--requests', '3', '--concurrency', '1,2',
                '--duration-limit', '60', '--out', str(report)])
    assert code == 0
    text = report.read_text()
    assert '| concurrency | requests | ok | errors | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms)' in text
    rows = [line for line in text.splitlines() if line.startswith('| 1 |') or line.startswith('| 2 |')]
    assert len(rows) == 2 and all('| 3 | 3 | 0 |' in row for row in rows)


# ---- without a server ----------------------------------------------------------------------------------
@pytest.mark.parametrize('host', ['10.0.0.1', '192.168.1.10', '8.8.8.8', '0.0.0.0'])
def test_loadtest_refuses_non_loopback_hosts(host, capsys):
    assert cli(['loadtest', '--host', host, '--port', '8866', '--requests', '1']) == 2
    assert 'only loopback hosts' in capsys.readouterr().err


def test_loadtest_bounds():
    assert loadtest.is_loopback('127.0.0.1') and loadtest.is_loopback('localhost') and loadtest.is_loopback('::1')
    assert cli(['loadtest', '--requests', str(loadtest.MAX_REQUESTS + 1)]) == 2
    assert cli(['loadtest', '--duration-limit', '0']) == 2
    assert cli(['loadtest', '--concurrency', '1,500']) == 2
    assert cli(['loadtest', '--concurrency', 'a,b']) == 2


def test_service_in_process_matches_python_api(mobile_detector, encoded_images, bgr_images):
    results = predict_base64_images(mobile_detector, encoded_images, {'shrink': 0.5}, ServingLimits())
    assert results == mobile_detector.face_detection(images=bgr_images)


def test_base64_decoding():
    assert base64_to_bytes('data:image/jpeg;base64,aGVs\nbG8=') == b'hello'
    for bad in ('abc', 'a b c !', 'aGVsbG8=aGVs'):
        with pytest.raises(Base64Error):
            base64_to_bytes(bad)


def test_options_defaults_and_ignored_fields():
    config = load_builtin_config('pyramidbox_lite_mobile')
    assert parse_options({}, config) == PredictOptions(0.5, 0.6, False)
    assert parse_options({'shrink': 1, 'use_gpu': False, 'batch_size': 4}, config) == PredictOptions(1.0, 0.6, False)
    with pytest.raises(RequestError, match='shrink must be a number'):
        parse_options({'shrink': float('nan')}, config)
    # defaults and ranges are the model config's, not the server's
    other = dataclasses.replace(config, defaults=dataclasses.replace(config.defaults, shrink=0.25),
                                ranges=dataclasses.replace(config.ranges, confs_threshold=(0.1, 0.9)))
    assert parse_options({}, other).shrink == 0.25
    with pytest.raises(RequestError, match=r'confs_threshold must be in \[0.1, 0.9\], got 0.95'):
        parse_options({'confs_threshold': 0.95}, other)


def test_limits_from_environment(monkeypatch):
    monkeypatch.setenv('MASKHUB_SERVING_MAX_REQUEST_MB', '0.5')
    monkeypatch.setenv('MASKHUB_SERVING_MAX_IMAGES', '3')
    limits = ServingLimits.from_env()
    assert limits.max_request_bytes == 2**19 and limits.max_images == 3
    monkeypatch.setenv('MASKHUB_SERVING_MAX_IMAGES', 'many')
    with pytest.raises(ValueError, match='MASKHUB_SERVING_MAX_IMAGES'):
        ServingLimits.from_env()


def test_answers_are_json_serialisable(mobile_detector, encoded_images):
    json.dumps(predict_base64_images(mobile_detector, encoded_images[:1] + ['!'], {}, ServingLimits()))


# ---- bounded work per request --------------------------------------------------------------------------
def test_request_detector_budget_counts_all_images(mobile_detector, encoded_images, bgr_images):
    # 400x258 at shrink 1 is 0.103 MP a pass: a 0.25 MP request budget runs two such images, not three
    limits = ServingLimits(max_request_detector_pixels=250_000)
    results = predict_base64_images(mobile_detector, encoded_images[:1] * 3, {'shrink': 1.0}, limits)
    expected = mobile_detector.face_detection(images=bgr_images[:1], shrink=1.0)[0]['data']
    assert [r['data'] for r in results[:2]] == [expected, expected] and expected
    assert results[2]['error'] == ("images[2]: not processed: the request's detector budget of 0.25 MP is used up "
                                   "(this image needs 0.103 MP at shrink 1); send fewer images per request or a "
                                   "smaller shrink")


def test_request_time_limit_answers_a_clear_error(mobile_detector, encoded_images):
    limits = ServingLimits(max_request_seconds=1e-6)
    results = predict_base64_images(mobile_detector, encoded_images[:2], {}, limits)
    assert all(r['data'] == [] and 'ran past its time limit of 1e-06 s' in r['error'] for r in results)


def test_a_heavy_request_does_not_hold_the_detector_for_all_its_images(mobile_detector, encoded_images):
    """A 16-image request and a 1-image request sent while the first image of the heavy one runs: the lane
    runs images in arrival order, so the light image runs second, not after all 16."""
    import time
    limits = ServingLimits()
    order, heavy_started = [], threading.Event()

    class Recording:             # the real detector, recording which request each pass belongs to
        config = mobile_detector.config

        def predict_image(self, image, *args, **kwargs):
            tag = 'light' if image.shape[:2] == bgr_light.shape[:2] else 'heavy'
            order.append(tag)
            if tag == 'heavy' and not heavy_started.is_set():
                heavy_started.set()
                time.sleep(0.5)          # the light request decodes and queues meanwhile
            return mobile_detector.predict_image(image, *args, **kwargs)

    bgr_light = cv2.imdecode(np.frombuffer(base64_to_bytes(encoded_images[1]), np.uint8), cv2.IMREAD_COLOR)
    assert bgr_light.shape != cv2.imdecode(np.frombuffer(base64_to_bytes(encoded_images[0]), np.uint8), 1).shape
    heavy = threading.Thread(target=predict_base64_images,
                             args=(Recording(), encoded_images[:1] * 16, {'shrink': 1.0}, limits))
    heavy.start()
    assert heavy_started.wait(60)
    light = predict_base64_images(Recording(), encoded_images[1:2], {}, limits)
    heavy.join()
    assert 'error' not in light[0] and light[0]['data']
    assert order == ['heavy', 'light'] + ['heavy'] * 15


def test_lane_drops_jobs_whose_deadline_passed_and_admission_refuses_when_full():
    import time
    from maskhub.serving.lane import Admission, Busy, InferenceLane, LaneTimeout
    lane, ran, running = InferenceLane(), [], threading.Event()

    def block():
        running.set()
        time.sleep(0.5)

    blocker = threading.Thread(target=lane.run, args=(block,))
    blocker.start()
    assert running.wait(10)
    with pytest.raises(LaneTimeout, match='queued'):
        lane.run(ran.append, 'late', deadline=time.monotonic() + 0.1)
    blocker.join()
    assert lane.run(ran.append, 'next') is None and ran == ['next']        # the late job never ran
    admission = Admission()
    with admission.slot(1, 0.05):
        with pytest.raises(Busy, match='server busy: 1 requests in progress'):
            with admission.slot(1, 0.05):
                pass
    with admission.slot(1, 0.05):
        pass


def test_loadtest_soak_with_hostile_bodies(server, tmp_path):
    """A small soak through the real command: half the requests hostile, every good one answered."""
    report = tmp_path / 'serving.md'
    code = cli(['loadtest', '--port', str(server.port), '--soak', '--requests', '30', '--concurrency', '3',
                '--hostile-fraction', '0.5', '--seed', '3', '--duration-limit', '120', '--out', str(report)])
    text = report.read_text()
    assert code == 0, text
    row = next(line for line in text.splitlines() if line.startswith('| ') and ' / ' in line and 'yes' in line)
    ok, sent = row.split('|')[1].split('/')
    assert int(ok) == int(sent) > 0 and row.split('|')[2].strip() == '0'
    assert '| none |' in row
    assert server.process.poll() is None
