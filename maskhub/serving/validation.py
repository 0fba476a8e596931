"""Checks on the fields of a /predict request. Each failure is a ``RequestError`` whose message says
which field is wrong and what is expected; PaddleHub returns it as ``{"status": "101", "msg": ...}``."""
import math
from dataclasses import dataclass

# fields the official face_detection takes that make no sense over HTTP: the server never reads or
# writes its own files on a client's behalf
SERVER_FILE_FIELDS = ('paths', 'data', 'visualization', 'output_dir')
# accepted for compatibility with clients of the official module; they do not change the result
# (the device is chosen at `hub serving start`, images are run one by one)
IGNORED_FIELDS = ('use_gpu', 'batch_size')
OPTION_FIELDS = ('shrink', 'confs_threshold', 'use_multi_scale')

class RequestError(ValueError):
    pass


@dataclass(frozen=True)
class PredictOptions:
    shrink: float
    confs_threshold: float
    use_multi_scale: bool = False


def _number(name, value):
    # bool is an int subclass: true/false is not a number here
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RequestError('%s must be a number, got %s' % (name, _describe(value)))
    return float(value)


def _describe(value):
    text = repr(value)
    return '%s %s' % (type(value).__name__, text if len(text) <= 40 else text[:37] + '...')


def parse_options(fields, config):
    """The optional request fields -> ``PredictOptions``, defaults and valid ranges from the model ``config``;
    unknown or server-file fields are refused."""
    refused = [k for k in fields if k in SERVER_FILE_FIELDS]
    if refused:
        raise RequestError('%s not accepted over HTTP: send the images themselves as base64 in "images"'
                           % ', '.join(repr(k) for k in refused))
    unknown = sorted(k for k in fields if k not in OPTION_FIELDS + IGNORED_FIELDS)
    if unknown:
        raise RequestError('unknown field(s) %s; accepted: images, %s'
                           % (', '.join(repr(k) for k in unknown), ', '.join(OPTION_FIELDS + IGNORED_FIELDS)))
    shrink = _number('shrink', fields.get('shrink', config.defaults.shrink))
    confs_threshold = _number('confs_threshold', fields.get('confs_threshold', config.defaults.confs_threshold))
    try:
        shrink, confs_threshold = config.options(shrink, confs_threshold)
    except ValueError as err:
        raise RequestError(str(err)) from None
    use_multi_scale = fields.get('use_multi_scale', False)
    if not isinstance(use_multi_scale, bool):
        raise RequestError('use_multi_scale must be true or false, got %s' % _describe(use_multi_scale))
    if 'batch_size' in fields:
        batch_size = fields['batch_size']
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise RequestError('batch_size must be a positive integer, got %s' % _describe(batch_size))
    if 'use_gpu' in fields and not isinstance(fields['use_gpu'], bool):
        raise RequestError('use_gpu must be true or false, got %s' % _describe(fields['use_gpu']))
    return PredictOptions(shrink, confs_threshold, use_multi_scale)


def check_images(images, limits):
    """The ``images`` field: a non-empty list within the count and size limits (each item is checked
    when it is decoded, so one bad item fails alone)."""
    if images is None:
        raise RequestError('missing "images": send {"images": ["<base64 of an image file>", ...]}')
    if not isinstance(images, list):
        raise RequestError('"images" must be a list of base64 strings, got %s' % type(images).__name__)
    if not images:
        raise RequestError('"images" is empty: send at least one base64 image')
    if len(images) > limits.max_images:
        raise RequestError('too many images: %d (limit %d per request)' % (len(images), limits.max_images))
    total = sum(len(item) for item in images if isinstance(item, str))
    if total > limits.max_request_bytes:
        raise RequestError('request too large: %.1f MB of base64 images (limit %.1f MB per request)'
                           % (total / (1 << 20), limits.max_request_bytes / (1 << 20)))
    return images
