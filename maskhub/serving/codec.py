"""Images <-> base64 text, as PaddleHub serving clients send them."""
import base64
import binascii
import re

import cv2
import numpy as np

_DATA_URL_PREFIX = re.compile(r'^data:[\w/+.-]*;base64,', re.ASCII)
_WHITESPACE = re.compile(r'\s+')


class Base64Error(ValueError):
    pass


def base64_to_bytes(text):
    """Strict base64 (an optional ``data:...;base64,`` prefix and line breaks allowed) -> bytes."""
    if not isinstance(text, str):
        raise Base64Error('expected a base64 string, got %s' % type(text).__name__)
    text = _WHITESPACE.sub('', _DATA_URL_PREFIX.sub('', text, count=1))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise Base64Error('invalid base64 (%s)' % err) from None


def bytes_to_base64(data):
    return base64.b64encode(data).decode('ascii')


def image_to_base64(image, ext='.jpg'):
    """A file path or a uint8 BGR array -> base64 text of its encoded bytes (files are sent unchanged)."""
    if isinstance(image, np.ndarray):
        ok, buf = cv2.imencode(ext, image)
        if not ok:
            raise ValueError('could not encode the image as %s' % ext)
        return bytes_to_base64(buf.tobytes())
    with open(image, 'rb') as f:
        return bytes_to_base64(f.read())
