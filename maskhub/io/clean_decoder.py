"""Decoding images in a helper process whose zlib is sound (see ``maskhub.io.zlib_order``).

One helper per calling process, started on first use (a plain ``python`` that imports maskhub's image
reader and never Paddle), fed one image at a time over a socket pair. It runs the same
``decode_image`` with the same limits and sends back the decoded array or the ``ImageError`` reason.
A helper that dies on an image (a decoder crash) costs that image an error and is restarted for the
next one; a decode taking longer than ``timeout_s`` is stopped the same way.
"""
import ctypes
import os
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
DEFAULT_TIMEOUT_S = 60.0


class DecoderUnavailable(RuntimeError):
    pass


class CleanDecoder:
    def __init__(self, timeout_s=DEFAULT_TIMEOUT_S):
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc = self._conn = None

    def _start(self):
        parent_sock, child_sock = socket.socketpair()
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join([PACKAGE_PARENT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                                                              if p])
        env.setdefault('OMP_NUM_THREADS', '1')
        self._proc = subprocess.Popen([sys.executable, '-c', 'import sys; from maskhub.io.clean_decoder import serve; '
                                       'serve(int(sys.argv[1]))', str(child_sock.fileno())],
                                      pass_fds=(child_sock.fileno(),), env=env, stdin=subprocess.DEVNULL)
        child_sock.close()
        self._conn = Connection(parent_sock.detach())

    def _stop(self):
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
        self._proc = self._conn = None

    def decode(self, data, item, max_pixels, refuse_pixels):
        """-> ('ok', (image, scale, original_size)) or ('error', reason)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._stop()
                self._start()
            try:
                self._conn.send_bytes(data)
                self._conn.send((str(item), max_pixels, refuse_pixels))
                if not self._conn.poll(self.timeout_s):
                    self._stop()
                    return 'error', 'decoding took longer than %g s' % self.timeout_s
                return self._conn.recv()
            except (EOFError, OSError) as err:
                code = self._proc.poll() if self._proc is not None else None
                self._stop()
                return 'error', 'the image decoder crashed on it (%s)' % (
                    'signal %d' % -code if code is not None and code < 0 else type(err).__name__)

    def close(self):
        with self._lock:
            self._stop()


_decoder = None
_decoder_pid = None
_decoder_lock = threading.Lock()


def clean_decoder():
    """This process's helper (a forked worker, e.g. ``hub serving --use_multiprocess``, gets its own:
    the parent's socket must not be shared)."""
    global _decoder, _decoder_pid
    with _decoder_lock:
        if _decoder is None or _decoder_pid != os.getpid():
            _decoder, _decoder_pid = CleanDecoder(), os.getpid()
        return _decoder


def trim_c_heap():
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; a no-op elsewhere)."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def serve(fd):
    """The helper's loop: (bytes, (item, max_pixels, refuse_pixels)) in, ('ok', ...) / ('error', reason) out."""
    import maskhub  # noqa: F401  (binds the system zlib first)
    from maskhub.io.images import ImageError, decode_image
    conn = Connection(fd)
    while True:
        try:
            data = conn.recv_bytes()
            item, max_pixels, refuse_pixels = conn.recv()
        except EOFError:
            return
        loaded = None
        try:
            loaded = decode_image(data, item, max_pixels, refuse_pixels)
            conn.send(('ok', (loaded.image, loaded.scale, loaded.original_size)))
        except ImageError as err:
            conn.send(('error', err.reason))
        except Exception as err:     # the reason goes back to the caller, the helper keeps serving
            conn.send(('error', 'could not decode image (%s: %s)' % (type(err).__name__, err)))
        data = loaded = None
        trim_c_heap()                # a 64 MP PNG must not keep the helper at its peak
