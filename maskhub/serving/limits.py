"""What one /predict request may ask of the server. Each limit can be changed by an environment
variable read when the module loads (so it applies to ``hub serving start`` as well)."""
import os
from dataclasses import dataclass

MB = 1 << 20


def _env_number(name, default, kind):
    raw = os.environ.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError('environment variable %s=%r is not a number' % (name, raw)) from None
    if value <= 0:
        raise ValueError('environment variable %s must be > 0, got %r' % (name, raw))
    return value


@dataclass(frozen=True)
class ServingLimits:
    """Defaults sized for one request to stay under ~1 GB of server memory and a few seconds of CPU with
    the mobile model (reports/serving.md: each detector megapixel of the largest pass keeps ~260 MB;
    a detector megapixel takes ~0.5-1.5 s on one core)."""
    max_images: int = 16                  # images per request
    max_request_bytes: int = 32 * MB      # total base64 characters of the request's images
    reduce_pixels: int = 8_000_000        # larger images are decoded at 1/2, 1/4 or 1/8 size (boxes mapped back)
    refuse_pixels: int = 64_000_000       # larger images are refused (checked from the header)
    max_detector_pixels: int = 2_000_000  # one pass: decoded image pixels x shrink^2 (bounds peak memory)
    max_request_detector_pixels: int = 6_000_000   # all passes of all images of one request (bounds its time)
    max_request_seconds: float = 20.0     # images not started by then are answered with an error
    max_concurrent_requests: int = 8      # requests decoding / waiting for the detector at once (per process)
    queue_wait_seconds: float = 30.0      # how long a request waits for one of those slots
    release_memory_pixels: int = 200_000  # after a larger pass, Paddle's idle memory is given back

    @property
    def max_body_bytes(self):
        """The largest HTTP body: the base64 images plus room for the JSON around them."""
        return self.max_request_bytes + MB

    @classmethod
    def from_env(cls):
        return cls(
            max_images=_env_number('MASKHUB_SERVING_MAX_IMAGES', cls.max_images, int),
            max_request_bytes=int(_env_number('MASKHUB_SERVING_MAX_REQUEST_MB', cls.max_request_bytes / MB,
                                              float) * MB),
            reduce_pixels=int(_env_number('MASKHUB_SERVING_REDUCE_MEGAPIXELS', cls.reduce_pixels / 1e6, float) * 1e6),
            refuse_pixels=int(_env_number('MASKHUB_SERVING_MAX_MEGAPIXELS', cls.refuse_pixels / 1e6, float) * 1e6),
            max_detector_pixels=int(_env_number('MASKHUB_SERVING_MAX_DETECTOR_MEGAPIXELS',
                                                cls.max_detector_pixels / 1e6, float) * 1e6),
            max_request_detector_pixels=int(_env_number('MASKHUB_SERVING_MAX_REQUEST_DETECTOR_MEGAPIXELS',
                                                        cls.max_request_detector_pixels / 1e6, float) * 1e6),
            max_request_seconds=_env_number('MASKHUB_SERVING_MAX_REQUEST_SECONDS', cls.max_request_seconds, float),
            max_concurrent_requests=_env_number('MASKHUB_SERVING_MAX_CONCURRENT_REQUESTS',
                                                cls.max_concurrent_requests, int),
            queue_wait_seconds=_env_number('MASKHUB_SERVING_QUEUE_WAIT_SECONDS', cls.queue_wait_seconds, float),
            release_memory_pixels=int(_env_number('MASKHUB_SERVING_RELEASE_MEMORY_MEGAPIXELS',
                                                  cls.release_memory_pixels / 1e6, float) * 1e6),
        )
