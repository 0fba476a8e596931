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
    max_images: int = 16                  # images per request
    max_request_bytes: int = 32 * MB      # total base64 characters of the request's images
    reduce_pixels: int = 25_000_000       # larger images are decoded at 1/2, 1/4 or 1/8 size
    refuse_pixels: int = 64_000_000       # larger images are refused (checked from the header)
    max_detector_pixels: int = 12_000_000  # decoded image pixels x shrink^2: bounds memory and time of a pass

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
        )
