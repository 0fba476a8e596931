"""Start and stop a real ``hub serving start`` process on a loopback port (tests and load tests).

    with HubServer('hub_modules/pyramidbox_lite_mobile_mask', hub_home=tmp) as server:
        requests.post(server.predict_url, json={'images': [...]})

The module directory is installed into ``hub_home`` (a scratch HUB_HOME) with ``hub install`` first.
``hub serving`` itself binds 0.0.0.0 (PaddleHub has no host option); clients here only use 127.0.0.1.
``launcher='app'`` runs ``python -m maskhub.serving.app`` on the module directory instead (same
protocol, bound to 127.0.0.1, HTTP 413 above ``max_request_mb``).
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LOOPBACK = '127.0.0.1'


def hub_command():
    """The ``hub`` executable of this interpreter's environment."""
    return [sys.executable, '-c', 'import sys; from paddlehub.commands.utils import execute; sys.exit(execute())']


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def hub_env(hub_home, extra=None):
    env = dict(os.environ, HUB_HOME=str(hub_home))
    env.update(extra or {})
    return env


def hub_install(module_dir, hub_home, timeout=300):
    """``hub install <module_dir>`` into ``hub_home``; returns the installed module's directory."""
    Path(hub_home).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(hub_command() + ['install', str(module_dir)], env=hub_env(hub_home), capture_output=True,
                          text=True, timeout=timeout)
    installed = Path(hub_home) / 'modules' / Path(module_dir).name
    if proc.returncode != 0 or not (installed / 'module.py').exists():
        raise RuntimeError('hub install %s failed (exit %d):\n%s%s'
                           % (module_dir, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    return installed


class HubServer:
    """One ``hub serving start -m <module>`` process; ``stop()`` ends its whole process group."""

    def __init__(self, module_dir, hub_home, port=None, workers=None, env=None, log_path=None, start_timeout=180,
                 launcher='hub', max_request_mb=None):
        if launcher not in ('hub', 'app'):
            raise ValueError("launcher must be 'hub' or 'app', got %r" % launcher)
        if launcher == 'app' and workers:
            raise ValueError("launcher 'app' runs one process: workers are for launcher 'hub'")
        self.launcher, self.max_request_mb = launcher, max_request_mb
        self.module_dir = Path(module_dir)
        self.name = self.module_dir.name
        self.hub_home = Path(hub_home)
        self.port = port or free_port()
        self.workers = workers
        self.env = env or {}
        self.log_path = Path(log_path) if log_path else self.hub_home / ('serving_%d.log' % self.port)
        self.start_timeout = start_timeout
        self.process = None

    @property
    def base_url(self):
        return 'http://%s:%d' % (LOOPBACK, self.port)

    @property
    def predict_url(self):
        return '%s/predict/%s' % (self.base_url, self.name)

    def command(self):
        if self.launcher == 'app':
            cmd = [sys.executable, '-m', 'maskhub.serving.app', str(self.module_dir), '--host', LOOPBACK,
                   '--port', str(self.port)]
            return cmd + (['--max-request-mb', str(self.max_request_mb)] if self.max_request_mb else [])
        cmd = hub_command() + ['serving', 'start', '-m', self.name, '-p', str(self.port)]
        return cmd + (['--use_multiprocess', '--workers', str(self.workers)] if self.workers else [])

    def start(self, install=True):
        """Install (launcher 'hub' only), start, and wait until the server answers."""
        if install and self.launcher == 'hub':
            hub_install(self.module_dir, self.hub_home)
        self.hub_home.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        self._log = open(self.log_path, 'ab')
        # own session: stop() can signal the server and the gunicorn workers it forks, and nothing else
        self.process = subprocess.Popen(cmd, env=hub_env(self.hub_home, self.env), stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self):
        import requests
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('hub serving exited with %s before answering; log %s:\n%s'
                                   % (self.process.returncode, self.log_path, self.log_tail()))
            try:
                if requests.get(self.base_url + '/', timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError('hub serving did not answer on port %d within %ds; log:\n%s'
                           % (self.port, self.start_timeout, self.log_tail()))

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_text(errors='replace')[-chars:]
        except OSError:
            return ''

    def stop(self, timeout=15):
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None

    def __enter__(self):
        return self.start() if self.process is None else self

    def __exit__(self, *exc):
        self.stop()
