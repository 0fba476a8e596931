"""Soak test and memory profile of a serving endpoint (``python -m maskhub loadtest --soak / --rss-profile``).

Soak: ``requests`` requests from ``concurrency`` clients, a ``hostile_fraction`` of them hostile
(bodies that are not JSON objects, JSON nested 100,000 deep, wrong Content-Type, bodies over the limit,
invalid base64, non-images, truncated files, a PNG header claiming 30000x30000, the flat 8000x8000 PNG,
a 12 MP JPEG at shrink 4, too many images, file paths), mixed at random (seeded). It checks that every
good request succeeds, every hostile one gets the protocol's JSON (or, for a body refused before it is
read, at worst a closed connection), the server stays alive, and samples the server's RSS (its process
group: the server and its helpers) throughout.

Memory profile: requests of growing size, one at a time, each to the same server; the server's RSS
after each and its peak (``VmHWM``).
"""
import base64
import json
import random
import threading
import time
from pathlib import Path

import numpy as np

from maskhub.io.images import png_header_only

HOSTILE_KINDS = ('nested_json', 'json_list', 'json_string', 'form_content_type', 'no_content_type', 'invalid_json',
                 'over_body_limit', 'invalid_base64', 'not_an_image', 'truncated_jpeg', 'png_header_30000',
                 'flat_png_8000', 'jpeg_12mp_shrink4', 'too_many_images', 'server_paths')


def _b64(data):
    return base64.b64encode(data).decode('ascii')


def _encoded(image, ext, params=()):
    import cv2
    ok, buf = cv2.imencode(ext, image, list(params))
    if not ok:
        raise RuntimeError('could not encode a %s test image' % ext)
    return buf.tobytes()


class Bodies:
    """The requests of a soak: (kwargs for ``requests.post``, kind). Built once, in memory."""

    def __init__(self, good_image_bytes, max_body_bytes):
        self.good = {'json': {'images': [_b64(good_image_bytes)]}}
        jpeg = good_image_bytes
        flat12 = _encoded(np.full((3000, 4000, 3), 127, np.uint8), '.jpg')
        flat_png = _encoded(np.full((8000, 8000, 3), 120, np.uint8), '.png')
        as_json = {'Content-Type': 'application/json'}
        self.hostile = {
            'nested_json': {'data': '[' * 100_000 + ']' * 100_000, 'headers': as_json},
            'json_list': {'json': [_b64(jpeg)]},
            'json_string': {'json': _b64(jpeg)},
            'form_content_type': {'data': {'images': _b64(jpeg)}},
            'no_content_type': {'data': json.dumps({'images': [_b64(jpeg)]}).encode()},
            'invalid_json': {'data': '{"images": ["', 'headers': as_json},
            'over_body_limit': {'data': b'{"images": ["' + b'A' * (max_body_bytes + (1 << 20)) + b'"]}',
                                'headers': as_json},
            'invalid_base64': {'json': {'images': ['not base64 at all!']}},
            'not_an_image': {'json': {'images': [_b64(b'hello, this is text' * 50)]}},
            'truncated_jpeg': {'json': {'images': [_b64(jpeg[:len(jpeg) // 2])]}},
            'png_header_30000': {'json': {'images': [_b64(png_header_only(30000, 30000))]}},
            'flat_png_8000': {'json': {'images': [_b64(flat_png)], 'shrink': 1}},       # decoded, then refused
            'jpeg_12mp_shrink4': {'json': {'images': [_b64(flat12)], 'shrink': 4}},
            'too_many_images': {'json': {'images': [_b64(jpeg)] * 17}},
            'server_paths': {'json': {'images': [_b64(jpeg)], 'paths': ['/etc/passwd']}},
        }
        self.sizes = {'flat_png_8000': len(flat_png), 'jpeg_12mp': len(flat12)}


def judge_hostile(response):
    """A hostile request is handled when it gets the protocol's JSON: a 4xx with status 101, or 200 with
    status 101 or a per-image error. Anything else (5xx, HTML, success) is a failure."""
    try:
        payload = response.json()
    except ValueError:
        return 'not JSON (HTTP %d)' % response.status_code
    if response.status_code >= 500:
        return 'HTTP %d' % response.status_code
    if payload.get('status') == '101':
        return None
    if payload.get('status') == '000' and any('error' in r for r in payload.get('results') or []):
        return None
    return 'accepted (HTTP %d, status %s)' % (response.status_code, payload.get('status'))


def judge_good(response):
    if response.status_code != 200:
        return 'HTTP %d' % response.status_code
    try:
        payload = response.json()
    except ValueError:
        return 'not JSON'
    if payload.get('status') != '000':
        return 'status %s: %s' % (payload.get('status'), str(payload.get('msg'))[:80])
    if any('error' in r for r in payload['results']):
        return 'image error: %s' % payload['results'][0].get('error', '')[:80]
    return None


def group_rss_mb(pgid):
    """Total RSS (MB) of the processes in process group ``pgid`` (the server and its helpers)."""
    total = 0
    for proc in Path('/proc').iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / 'stat').read_text()
            fields = stat[stat.rindex(')') + 2:].split()
            if int(fields[2]) != pgid:
                continue
            total += int(fields[21]) * 4096          # rss pages
        except (OSError, ValueError, IndexError):
            continue
    return total / (1 << 20)


def vm_hwm_mb(pid):
    try:
        for line in Path('/proc/%d/status' % pid).read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float('nan')


class RssSampler:
    def __init__(self, pgid, interval_s=0.2):
        self.pgid, self.interval_s = pgid, interval_s
        self.peak_mb = self.first_mb = self.last_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while self.pgid is not None and not self._stop.is_set():
            rss = group_rss_mb(self.pgid)
            self.first_mb = self.first_mb or rss
            self.last_mb = rss
            self.peak_mb = max(self.peak_mb, rss)
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_workers(worker, count):
    """Run ``worker`` in ``count`` threads at once (one per simulated client); seconds until all ended."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run_soak(url, bodies, total, concurrency, hostile_fraction, duration_limit, timeout, seed=0):
    """-> dict of figures. The plan (which request is hostile, which kind) is fixed by ``seed``."""
    import requests
    rng = random.Random(seed)
    plan = [rng.choice(HOSTILE_KINDS) if rng.random() < hostile_fraction else None for _ in range(total)]
    lock = threading.Lock()
    cursor = [0]
    good_latencies, good_errors, hostile_outcomes, hostile_failures = [], {}, {}, {}
    deadline = time.monotonic() + duration_limit

    def worker():
        with requests.Session() as session:
            while True:
                with lock:
                    if cursor[0] >= len(plan) or time.monotonic() >= deadline:
                        return
                    kind = plan[cursor[0]]
                    cursor[0] += 1
                kwargs = bodies.good if kind is None else bodies.hostile[kind]
                t0 = time.perf_counter()
                try:
                    response = session.post(url, timeout=timeout, **kwargs)
                    problem = (judge_good if kind is None else judge_hostile)(response)
                except requests.RequestException as err:
                    response, problem = None, type(err).__name__
                    if kind == 'over_body_limit':       # refused before reading: the server may close early
                        problem = None
                latency = time.perf_counter() - t0
                with lock:
                    if kind is None:
                        if problem:
                            good_errors[problem] = good_errors.get(problem, 0) + 1
                        else:
                            good_latencies.append(latency)
                    else:
                        key = '%s %s' % (kind, response.status_code if response is not None else 'closed')
                        hostile_outcomes[key] = hostile_outcomes.get(key, 0) + 1
                        if problem:
                            hostile_failures['%s: %s' % (kind, problem)] = \
                                hostile_failures.get('%s: %s' % (kind, problem), 0) + 1

    elapsed = run_workers(worker, concurrency)
    ms = np.array(good_latencies) * 1e3

    def pct(q):
        return float(np.percentile(ms, q)) if len(ms) else float('nan')

    return {'planned': total, 'sent': cursor[0], 'good_sent': sum(1 for k in plan[:cursor[0]] if k is None),
            'good_ok': len(good_latencies), 'good_errors': good_errors,
            'hostile_sent': sum(1 for k in plan[:cursor[0]] if k is not None),
            'hostile_outcomes': hostile_outcomes, 'hostile_failures': hostile_failures, 'elapsed_s': elapsed,
            'throughput_rps': cursor[0] / elapsed, 'good_throughput_rps': len(good_latencies) / elapsed,
            'p50_ms': pct(50), 'p95_ms': pct(95), 'p99_ms': pct(99)}


OVERSIZED_BODY_MB = 200


def rss_profile_requests(good_image_bytes):
    """(label, JSON body or raw bytes) pairs of growing size for the memory profile."""
    photo = _b64(good_image_bytes)
    flat12 = _b64(_encoded(np.full((3000, 4000, 3), 127, np.uint8), '.jpg'))
    flat_png = _b64(_encoded(np.full((8000, 8000, 3), 120, np.uint8), '.png'))
    oversized = b'{"images": ["' + b'A' * (OVERSIZED_BODY_MB << 20) + b'"]}'
    return [
        ('%d MB body (over the body limit: refused from its length)' % OVERSIZED_BODY_MB, oversized),
        ('1 photo (400x226), shrink 0.5', {'images': [photo]}),
        ('16 photos, shrink 0.5', {'images': [photo] * 16}),
        ('16 photos, shrink 2 (16 x 0.36 MP passes, request budget 6 MP)', {'images': [photo] * 16, 'shrink': 2}),
        ('1 flat 12 MP JPEG, shrink 1 (decoded at 2000x1500: 3 MP pass, refused)', {'images': [flat12], 'shrink': 1}),
        ('1 flat 12 MP JPEG, shrink 0.8 (1.9 MP pass)', {'images': [flat12], 'shrink': 0.8}),
        ('16 flat 12 MP JPEGs, shrink 0.8 (4 MB request; budget 6 MP: 3 run)', {'images': [flat12] * 16,
                                                                                'shrink': 0.8}),
        ('flat 8000x8000 PNG, shrink 0.5 (decoded at 2000x2000, 1 MP pass)', {'images': [flat_png]}),
    ]


def run_rss_profile(url, pid, pgid, good_image_bytes, timeout):
    import requests
    rows = []
    for label, body in rss_profile_requests(good_image_bytes):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        t0 = time.perf_counter()
        with RssSampler(pgid, 0.05) as sampler:
            try:
                response = requests.post(url, data=raw, headers={'Content-Type': 'application/json'},
                                         timeout=timeout)
                payload = response.json()
            except requests.RequestException as err:        # refused before reading: may close early
                payload = {'status': type(err).__name__}
        elapsed = time.perf_counter() - t0
        size = len(raw)
        results = payload.get('results') or []
        rows.append({'request': label, 'body_mb': size / (1 << 20), 'seconds': elapsed,
                     'answered': sum(1 for r in results if 'error' not in r), 'refused': sum(1 for r in results
                                                                                              if 'error' in r),
                     'status': '%s %s' % (response.status_code, payload.get('status')) if 'results' in payload
                     else payload.get('status'), 'rss_during_peak_mb': sampler.peak_mb,
                     'rss_after_mb': group_rss_mb(pgid), 'server_vmhwm_mb': vm_hwm_mb(pid)})
    return rows
