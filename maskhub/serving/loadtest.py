"""``python -m maskhub loadtest``: load-test a hub serving endpoint on loopback, write reports/serving.md.

    python -m maskhub loadtest --requests 200 --concurrency 1,4,16 --duration-limit 60
    python -m maskhub loadtest --port 8866 --requests 100        # a server already running

Without ``--port`` it installs the module into a scratch HUB_HOME, starts ``hub serving`` itself and
stops it afterwards. Only loopback targets are accepted, and every run is bounded in requests and
seconds: this is a measuring tool, not a load generator for other people's servers.
"""
import collections
import datetime
import ipaddress
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from maskhub.inference.registry import REPO_ROOT

DEFAULT_MODULE = 'pyramidbox_lite_mobile_mask'
DEFAULT_IMAGE = REPO_ROOT / 'tests' / 'data' / 'reference' / 'images' / 'maksssksksss558.jpg'
MAX_REQUESTS = 10_000
MAX_DURATION_S = 3600
MAX_CONCURRENCY = 64


def is_loopback(host):
    """True when every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split('%')[0]).is_loopback for info in infos)


def parse_concurrency(text):
    try:
        levels = [int(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise ValueError('--concurrency must be comma-separated integers, got %r' % text) from None
    if not levels or any(not 1 <= c <= MAX_CONCURRENCY for c in levels):
        raise ValueError('--concurrency levels must be in 1..%d, got %r' % (MAX_CONCURRENCY, text))
    return levels


def add_arguments(parser):
    parser.add_argument('--host', default='127.0.0.1', help='loopback host of the server (others are refused)')
    parser.add_argument('--port', type=int, default=None,
                        help='port of a running `hub serving`; without it the server is started here')
    parser.add_argument('--module', default=DEFAULT_MODULE, help='served module name (default %(default)s)')
    parser.add_argument('--module-dir', default=None,
                        help='module directory to install and serve when starting the server '
                             '(default hub_modules/<module>)')
    parser.add_argument('--workers', type=int, default=None,
                        help='when starting the server: `--use_multiprocess --workers N` (default: single process)')
    parser.add_argument('--image', action='append', default=None,
                        help='image file to send (repeatable; default %s)' % DEFAULT_IMAGE.name)
    parser.add_argument('--images-per-request', type=int, default=1, help='images in each request body')
    parser.add_argument('--shrink', type=float, default=None,
                        help="shrink sent with each request (default: the module's own)")
    parser.add_argument('--requests', type=int, default=100, help='requests per concurrency level (max %d)'
                        % MAX_REQUESTS)
    parser.add_argument('--concurrency', default='1,4,16', help='comma-separated client thread counts')
    parser.add_argument('--duration-limit', type=float, default=60,
                        help='seconds per concurrency level at most (max %d)' % MAX_DURATION_S)
    parser.add_argument('--timeout', type=float, default=120, help='seconds per request')
    parser.add_argument('--out', default='runs/loadtest/serving.md', help='report file to write')
    parser.add_argument('--report', action='store_true',
                        help='write reports/serving.md in the repository instead of --out (with --append, '
                             'as a new section after the earlier runs)')
    parser.add_argument('--append', action='store_true', help='add a section to the report instead of replacing it')


def check_args(args):
    if not is_loopback(args.host):
        raise ValueError('refusing to load-test %r: only loopback hosts (127.0.0.1, ::1, localhost) are allowed'
                         % args.host)
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise ValueError('--requests must be in 1..%d' % MAX_REQUESTS)
    if not 0 < args.duration_limit <= MAX_DURATION_S:
        raise ValueError('--duration-limit must be in (0, %d] seconds' % MAX_DURATION_S)
    if args.images_per_request < 1:
        raise ValueError('--images-per-request must be >= 1')
    return parse_concurrency(args.concurrency)


class Outcome:
    """What one request gave: latency and, when it failed, a short error kind."""
    __slots__ = ('latency_s', 'error')

    def __init__(self, latency_s, error=None):
        self.latency_s, self.error = latency_s, error


def send(session, url, body, timeout):
    import requests
    t0 = time.perf_counter()
    try:
        response = session.post(url, json=body, timeout=timeout)
        latency = time.perf_counter() - t0
    except requests.RequestException as err:
        return Outcome(time.perf_counter() - t0, type(err).__name__)
    if response.status_code != 200:
        return Outcome(latency, 'HTTP %d' % response.status_code)
    try:
        payload = response.json()
    except ValueError:
        return Outcome(latency, 'non-JSON answer')
    if payload.get('status') != '000':
        return Outcome(latency, 'status %s: %s' % (payload.get('status'), str(payload.get('msg'))[:80]))
    if any('error' in r for r in payload.get('results') or []):
        return Outcome(latency, 'image error')
    return Outcome(latency)


def run_level(url, body, concurrency, max_requests, duration_limit, timeout):
    """``concurrency`` threads send requests until ``max_requests`` are sent or ``duration_limit`` passes."""
    import requests
    lock = threading.Lock()
    sent = [0]
    outcomes = []
    deadline = time.monotonic() + duration_limit

    def worker():
        with requests.Session() as session:
            while True:
                with lock:
                    if sent[0] >= max_requests or time.monotonic() >= deadline:
                        return
                    sent[0] += 1
                outcome = send(session, url, body, timeout)
                with lock:
                    outcomes.append(outcome)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summarize(concurrency, outcomes, time.perf_counter() - t0, max_requests)


def summarize(concurrency, outcomes, elapsed_s, max_requests):
    latencies = np.array([o.latency_s for o in outcomes if o.error is None]) * 1e3
    errors = collections.Counter(o.error for o in outcomes if o.error is not None)

    def pct(q):
        return float(np.percentile(latencies, q)) if len(latencies) else float('nan')

    return {'concurrency': concurrency, 'requests': len(outcomes), 'planned': max_requests, 'ok': int(len(latencies)),
            'errors': dict(errors), 'elapsed_s': elapsed_s,
            'throughput_rps': len(latencies) / elapsed_s if elapsed_s > 0 else float('nan'),
            'p50_ms': pct(50), 'p95_ms': pct(95), 'p99_ms': pct(99),
            'mean_ms': float(latencies.mean()) if len(latencies) else float('nan')}


def cpu_description():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def render_report(levels, setup):
    lines = ['## %s, %s' % (setup['server_mode'], setup['date']), '',
             '- machine: %s, %d logical CPUs (shared with other work while measuring: %s)'
             % (setup['cpu'], os.cpu_count() or 0, setup['load']),
             '- server: `%s`' % setup['server_cmd'],
             '- module: `%s`, MASKHUB_THREADS=%s' % (setup['module'], setup['threads']),
             '- request: %d image(s) per request, %s (%s), %s' % (setup['images_per_request'], setup['images'],
                                                                 setup['image_size'], setup['options']),
             '- bounds: at most %d requests and %.0f s per level, after unmeasured warm-up requests (2 per worker)'
             % (setup['requests'], setup['duration_limit']),
             '- command: `%s`' % setup['command'], '',
             '| concurrency | requests | ok | errors | throughput (req/s) | p50 (ms) | p95 (ms) | p99 (ms) '
             '| mean (ms) |',
             '|---:|---:|---:|---|---:|---:|---:|---:|---:|']
    for r in levels:
        errors = ', '.join('%s: %d' % kv for kv in sorted(r['errors'].items())) or '0'
        lines.append('| %d | %d | %d | %s | %.2f | %.0f | %.0f | %.0f | %.0f |'
                     % (r['concurrency'], r['requests'], r['ok'], errors, r['throughput_rps'], r['p50_ms'],
                        r['p95_ms'], r['p99_ms'], r['mean_ms']))
    return '\n'.join(lines) + '\n'


def write_report(path, section, append):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ('# Serving load test\n\nWritten by `python -m maskhub loadtest` (maskhub/serving/loadtest.py): '
              '`POST /predict/<module>` on loopback, latency measured at the client from send to parsed '
              'answer; throughput counts successful requests.\n\n')
    if append and path.exists():
        text = path.read_text().rstrip('\n') + '\n\n' + section
    else:
        text = header + section
    path.write_text(text)


def image_description(paths):
    import cv2
    sizes = []
    for p in paths:
        im = cv2.imread(str(p))
        sizes.append('%dx%d' % (im.shape[1], im.shape[0]) if im is not None else '?')
    return ', '.join(Path(p).name for p in paths), ', '.join(sizes)


def run(args):
    try:
        levels = check_args(args)
    except ValueError as err:
        print('maskhub loadtest: %s' % err, file=sys.stderr)
        return 2
    from maskhub.serving.codec import image_to_base64
    from maskhub.serving.server import HubServer
    images = [Path(p) for p in (args.image or [DEFAULT_IMAGE])]
    encoded = [image_to_base64(p) for p in images]
    body = {'images': [encoded[i % len(encoded)] for i in range(args.images_per_request)]}
    if args.shrink is not None:
        body['shrink'] = args.shrink

    server = None
    scratch = None
    if args.port is None:
        scratch = tempfile.TemporaryDirectory(prefix='maskhub-loadtest-')
        module_dir = Path(args.module_dir or REPO_ROOT / 'hub_modules' / args.module)
        server = HubServer(module_dir, Path(scratch.name) / 'hub_home', workers=args.workers)
        print('starting hub serving for %s on port %d ...' % (server.name, server.port), file=sys.stderr)
        server.start()
        port, module = server.port, server.name
        server_cmd = 'hub serving start -m %s -p %d%s' % (
            module, port, ' --use_multiprocess --workers %d' % args.workers if args.workers else '')
    else:
        port, module = args.port, args.module
        server_cmd = 'already running on port %d (started outside this command)' % port
    url = 'http://%s:%d/predict/%s' % (args.host, port, module)
    try:
        # every worker process builds its predictor on its first request: keep that out of the figures
        warm_threads = max(1, args.workers or 1)
        warm = run_level(url, body, warm_threads, 2 * warm_threads, args.duration_limit, args.timeout)
        if warm['errors']:
            print('maskhub loadtest: warm-up requests failed: %s' % warm['errors'], file=sys.stderr)
            return 1
        results = []
        for c in levels:
            r = run_level(url, body, c, args.requests, args.duration_limit, args.timeout)
            print('concurrency %3d: %4d requests, %d errors, %.2f req/s, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms'
                  % (c, r['requests'], r['requests'] - r['ok'], r['throughput_rps'], r['p50_ms'], r['p95_ms'],
                     r['p99_ms']))
            results.append(r)
    finally:
        if server is not None:
            server.stop()
        if scratch is not None:
            scratch.cleanup()

    names, sizes = image_description(images)
    load1 = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    setup = {'server_mode': ('%d gunicorn workers' % args.workers) if args.workers and server else
             ('single process (Flask)' if server else 'external server'),
             'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
             'cpu': cpu_description(), 'load': 'load average %.1f at the end' % load1,
             'server_cmd': server_cmd, 'module': module,
             'threads': os.environ.get('MASKHUB_THREADS', 'unset (all cores)'),
             'images_per_request': args.images_per_request, 'images': names, 'image_size': sizes,
             'options': 'shrink %s' % (args.shrink if args.shrink is not None else '0.5 (default)'),
             'requests': args.requests, 'duration_limit': args.duration_limit,
             'command': 'python -m maskhub loadtest ' + ' '.join(sys.argv[2:]) if sys.argv[1:2] == ['loadtest']
             else 'python -m maskhub loadtest'}
    target = REPO_ROOT / 'reports' / 'serving.md' if args.report else Path(args.out)
    write_report(target, render_report(results, setup), args.append)
    print('report: %s' % target)
    return 1 if any(r['errors'] for r in results) else 0
