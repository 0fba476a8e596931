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
import json
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
from maskhub.io.paths import new_run_dir

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
    parser.add_argument('--out', default=None, help='report file to write (default runs/loadtest/N/serving.md, a new N '
                        'each run)')
    parser.add_argument('--report', action='store_true',
                        help='write reports/serving.md in the repository instead of --out (with --append, '
                             'as a new section after the earlier runs)')
    parser.add_argument('--append', action='store_true', help='add a section to the report instead of replacing it')
    parser.add_argument('--launcher', choices=['hub', 'app'], default='hub',
                        help='server to start: `hub serving start` or `python -m maskhub.serving.app`')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--soak', action='store_true',
                      help='one run of --requests requests at the first --concurrency level with '
                           '--hostile-fraction hostile bodies mixed in; server RSS sampled (always appends)')
    mode.add_argument('--rss-profile', action='store_true',
                      help='server RSS after requests of growing size, one at a time (always appends)')
    parser.add_argument('--hostile-fraction', type=float, default=0.1,
                        help='--soak: share of the requests that carry a hostile body')
    parser.add_argument('--seed', type=int, default=0, help='seed of the soak plan (which requests are hostile)')


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
    if not 0 <= args.hostile_fraction <= 1:
        raise ValueError('--hostile-fraction must be in [0, 1]')
    if args.rss_profile and args.port is not None:
        raise ValueError('--rss-profile starts its own server (it measures its memory): drop --port')
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

    from maskhub.serving.soak import run_workers
    return summarize(concurrency, outcomes, run_workers(worker, concurrency), max_requests)


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


def render_soak(r, setup):
    good_errors = ', '.join('%s: %d' % kv for kv in sorted(r['good_errors'].items())) or '0'
    failures = ', '.join('%s: %d' % kv for kv in sorted(r['hostile_failures'].items())) or 'none'
    outcomes = ', '.join('%s: %d' % kv for kv in sorted(r['hostile_outcomes'].items()))
    return '\n'.join([
        '## Soak, %s, %s' % (setup['server_mode'], setup['date']), '',
        '- machine: %s, %d logical CPUs (%s)' % (setup['cpu'], os.cpu_count() or 0, setup['load']),
        '- server: `%s`, MASKHUB_THREADS=%s, runtime %s' % (setup['server_cmd'], setup['threads'],
                                                            setup['runtime']),
        '- plan: %d requests (%d sent within the %.0f s bound) from %d concurrent clients, %.0f %% hostile '
        '(seed %d): %d good (1 image %s, shrink 0.5), %d hostile'
        % (r['planned'], r['sent'], setup['duration_limit'], setup['concurrency'], 100 * setup['hostile_fraction'],
           setup['seed'], r['good_sent'], setup['images'], r['hostile_sent']),
        '- command: `%s`' % setup['command'], '',
        '| good ok / sent | good errors | throughput, all (req/s) | good p50 (ms) | p95 (ms) | p99 (ms) '
        '| hostile not answered as protocol JSON | server RSS start / peak / end (MB) | alive after |',
        '|---:|---|---:|---:|---:|---:|---|---:|---|',
        '| %d / %d | %s | %.2f | %.0f | %.0f | %.0f | %s | %.0f / %.0f / %.0f | %s |'
        % (r['good_ok'], r['good_sent'], good_errors, r['throughput_rps'], r['p50_ms'], r['p95_ms'], r['p99_ms'],
           failures, r['rss_first_mb'], r['rss_peak_mb'], r['rss_last_mb'], 'yes' if r['alive'] else '**no**'),
        '', 'Hostile requests by kind and HTTP status (`closed`: the server refused the body before reading it '
        'and closed the connection): %s.' % outcomes, ''])


def render_rss_profile(rows, setup):
    lines = ['## Memory per request, %s, %s' % (setup['server_mode'], setup['date']), '',
             '- machine: %s, %d logical CPUs (%s)' % (setup['cpu'], os.cpu_count() or 0, setup['load']),
             '- server: `%s`, MASKHUB_THREADS=%s, runtime %s; requests sent one at a time, in this order, to '
             'one server; RSS of the server process group (server and its helper processes) sampled every 50 ms'
             % (setup['server_cmd'], setup['threads'], setup['runtime']),
             '- command: `%s`' % setup['command'], '',
             '| request | body (MB) | time (s) | HTTP, status | images answered / refused | RSS peak during (MB) '
             '| RSS after (MB) | server VmHWM so far (MB) |',
             '|---|---:|---:|---|---:|---:|---:|---:|']
    for row in rows:
        lines.append('| %s | %.2f | %.2f | %s | %d / %d | %.0f | %.0f | %.0f |'
                     % (row['request'], row['body_mb'], row['seconds'], row['status'], row['answered'], row['refused'],
                        row['rss_during_peak_mb'], row['rss_after_mb'], row['server_vmhwm_mb']))
    return '\n'.join(lines) + '\n'


def run_measure(args, server, url, image_path, concurrency, server_cmd):
    """--soak or --rss-profile against the server started here."""
    import requests

    from maskhub.serving import soak
    good = Path(image_path).read_bytes()
    pgid = server.process.pid if server else None       # the server runs in its own session / process group
    names, sizes = image_description([image_path])
    warm = requests.post(url, json={'images': [soak._b64(good)]}, timeout=args.timeout)
    if warm.status_code != 200 or warm.json().get('status') != '000':
        print('maskhub loadtest: warm-up request failed: %s' % warm.text[:300], file=sys.stderr)
        return 1
    setup = common_setup(args, server_cmd)
    setup.update(images='%s (%s)' % (names, sizes), concurrency=concurrency, seed=args.seed,
                 hostile_fraction=args.hostile_fraction)
    if args.rss_profile:
        rows = soak.run_rss_profile(url, server.process.pid, pgid, good, args.timeout)
        for row in rows:
            print('%-70s %6.2f MB body %6.2f s  RSS peak %5.0f MB, after %5.0f MB'
                  % (row['request'], row['body_mb'], row['seconds'], row['rss_during_peak_mb'], row['rss_after_mb']))
        setup['load'] = load_description()
        target = report_target(args)
        write_report(target, render_rss_profile(rows, setup), append=True)
        print('report: %s' % target)
        return 0
    bodies = soak.Bodies(good, soak_body_limit())
    with soak.RssSampler(pgid) as sampler:
        r = soak.run_soak(url, bodies, args.requests, concurrency, args.hostile_fraction, args.duration_limit,
                          args.timeout, args.seed)
        alive = server is None or server.process.poll() is None
        try:
            final = requests.post(url, json=bodies.good['json'], timeout=args.timeout)
            alive = alive and soak.judge_good(final) is None
        except requests.RequestException:
            alive = False
    r.update(rss_first_mb=sampler.first_mb, rss_peak_mb=sampler.peak_mb, rss_last_mb=sampler.last_mb, alive=alive)
    print(json.dumps({k: v for k, v in r.items()}, indent=1, default=str))
    setup['load'] = load_description()
    target = report_target(args)
    write_report(target, render_soak(r, setup), append=True)
    print('report: %s' % target)
    ok = alive and r['good_ok'] == r['good_sent'] and not r['hostile_failures']
    return 0 if ok else 1


def report_target(args):
    if args.report:
        return REPO_ROOT / 'reports' / 'serving.md'
    return Path(args.out) if args.out else new_run_dir('loadtest') / 'serving.md'


def soak_body_limit():
    from maskhub.serving.limits import ServingLimits
    return ServingLimits.from_env().max_body_bytes


def load_description():
    load1 = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    return 'load average %.1f at the end' % load1


def runtime_description():
    """The runtime the served module's ``MaskDetector`` picks here (backend 'auto')."""
    try:
        from maskhub.inference.runtimes import choose_runtime
        choice = choose_runtime()
        return '%s %s (auto: %s)' % (choice.backend, choice.precision, choice.reason)
    except Exception as err:      # a description only
        return 'unknown (%s)' % type(err).__name__


def common_setup(args, server_cmd):
    return {'runtime': runtime_description(), 'server_mode': 'maskhub app (threaded, one inference lane)' if args.launcher == 'app'
            else ('%d gunicorn workers' % args.workers if args.workers else 'hub serving, single process (Flask)'),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'cpu': cpu_description(), 'server_cmd': server_cmd,
            'threads': os.environ.get('MASKHUB_THREADS', 'unset (all cores)'),
            'duration_limit': args.duration_limit,
            'command': 'python -m maskhub loadtest ' + ' '.join(sys.argv[2:]) if sys.argv[1:2] == ['loadtest']
            else 'python -m maskhub loadtest'}


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
        server = HubServer(module_dir, Path(scratch.name) / 'hub_home', workers=args.workers, launcher=args.launcher)
        print('starting %s for %s on port %d ...' % (args.launcher, server.name, server.port), file=sys.stderr)
        server.start()
        port, module = server.port, server.name
        server_cmd = ('python -m maskhub.serving.app %s --port %d' % (module_dir.name, port) if args.launcher == 'app'
                      else 'hub serving start -m %s -p %d%s' % (
                          module, port, ' --use_multiprocess --workers %d' % args.workers if args.workers else ''))
    else:
        port, module = args.port, args.module
        server_cmd = 'already running on port %d (started outside this command)' % port
    url = 'http://%s:%d/predict/%s' % (args.host, port, module)
    if args.soak or args.rss_profile:
        if server is None:
            print('maskhub loadtest: external server: its RSS is not measured', file=sys.stderr)
        try:
            return run_measure(args, server, url, images[0], levels[0], server_cmd)
        finally:
            if server is not None:
                server.stop()
                scratch.cleanup()
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
    target = report_target(args)
    write_report(target, render_report(results, setup), args.append)
    print('report: %s' % target)
    return 1 if any(r['errors'] for r in results) else 0
