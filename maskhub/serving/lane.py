"""One detector, many clients: admission, a fair queue and a deadline per request.

- ``Admission``: at most ``max_concurrent_requests`` requests of this process decode images or wait
  for the detector at once; a request that cannot get a slot within ``queue_wait_seconds`` is refused
  with a clear message (memory stays bounded: each admitted request holds one decoded image).
- ``InferenceLane``: every detector call of the process runs on one thread, in the order submitted,
  one *image* at a time. A request with 16 images therefore interleaves with the one-image requests
  of other clients instead of holding the detector for all 16; one thread also keeps Paddle's
  per-thread oneDNN caches to one set. A caller waits at most until its deadline; an image whose
  turn has not come by then is dropped from the queue and answered with an error.

- ``release_memory``: after a request with a large detector pass, the memory Paddle kept for it is
  handed back (it otherwise stays at the process's peak).

Both are per process (``hub serving --use_multiprocess`` forks workers: each gets its own).
"""
import os
import queue
import threading
import time

from maskhub.io.clean_decoder import trim_c_heap


class LaneTimeout(Exception):
    pass


class Busy(Exception):
    pass


class _Job:
    __slots__ = ('fn', 'args', 'done', 'result', 'error', 'cancelled', 'started')

    def __init__(self, fn, args):
        self.fn, self.args = fn, args
        self.done = threading.Event()
        self.result = self.error = None
        self.cancelled = self.started = False


class InferenceLane:
    def __init__(self):
        self._lock = threading.Lock()
        self._queue = None
        self._pid = None

    def _ensure_thread(self):
        with self._lock:
            if self._pid != os.getpid():            # new process (fork): the old thread is not here
                self._queue = queue.Queue()
                thread = threading.Thread(target=self._work, args=(self._queue,), name='maskhub-inference',
                                          daemon=True)
                thread.start()
                self._pid = os.getpid()
            return self._queue

    @staticmethod
    def _work(jobs):
        while True:
            job = jobs.get()
            if job.cancelled:
                continue
            job.started = True
            try:
                job.result = job.fn(*job.args)
            except BaseException as err:      # handed to the waiting request
                job.error = err
            job.done.set()

    def run(self, fn, *args, deadline=None):
        """``fn(*args)`` on the lane thread; ``LaneTimeout`` if it has not finished by ``deadline``
        (a ``time.monotonic()`` value). A job still queued at the deadline is never run."""
        job = _Job(fn, args)
        self._ensure_thread().put(job)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not job.done.wait(timeout):
            job.cancelled = True
            raise LaneTimeout('started' if job.started else 'queued')
        if job.error is not None:
            raise job.error
        return job.result


class Admission:
    def __init__(self):
        self._lock = threading.Lock()
        self._slots = {}

    def slot(self, limit, wait_s):
        """Context manager holding one of ``limit`` slots; ``Busy`` if none frees within ``wait_s``."""
        with self._lock:
            sem = self._slots.get(limit)
            if sem is None:
                sem = self._slots[limit] = threading.BoundedSemaphore(limit)
        return _Slot(sem, limit, wait_s)


class _Slot:
    def __init__(self, sem, limit, wait_s):
        self.sem, self.limit, self.wait_s = sem, limit, wait_s

    def __enter__(self):
        if not self.sem.acquire(timeout=self.wait_s):
            raise Busy('server busy: %d requests in progress for %.0f s; retry later' % (self.limit, self.wait_s))
        return self

    def __exit__(self, *exc):
        self.sem.release()


def release_memory(detector):
    """Give back what a large pass left allocated: Paddle Inference's idle memory pool
    (``try_shrink_memory``) of each predictor, then the C heap's free pages (``malloc_trim``). Measured
    with the mobile model: 1045 MB after a 2.4 MP pass -> 444 MB (a 379 MB process before it)."""
    for runner in (getattr(detector, 'detector', None), getattr(detector, 'classifier', None)):
        predictor = getattr(runner, 'predictor', None)
        if predictor is not None and hasattr(predictor, 'try_shrink_memory'):
            predictor.try_shrink_memory()
    trim_c_heap()


LANE = InferenceLane()
ADMISSION = Admission()
