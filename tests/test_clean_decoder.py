"""The helper-process decoder used where Paddle holds the system zlib (maskhub.io.zlib_order): same
answers as decoding in-process, and a helper that dies or stalls costs one image, not the server."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO
from maskhub.io.clean_decoder import CleanDecoder
from maskhub.io.images import decode_image
from maskhub.io.zlib_order import loaded_libraries, zlib_bound_to_paddle


@pytest.fixture(scope='module')
def photo_png(example_images):
    ok, buf = cv2.imencode('.png', cv2.cvtColor(cv2.imread(str(example_images[0])), cv2.COLOR_BGR2GRAY))
    return buf.tobytes()


def test_helper_decodes_like_this_process_and_survives_its_own_death(photo_png):
    decoder = CleanDecoder(timeout_s=60)
    try:
        status, (image, scale, size) = decoder.decode(photo_png, 'grey.png', 16_000_000, 400_000_000)
        expected = decode_image(photo_png, 'grey.png')
        assert status == 'ok' and scale == expected.scale and size == expected.original_size
        np.testing.assert_array_equal(image, expected.image)
        assert decoder.decode(b'not an image', 'x.png', 16_000_000, 400_000_000) == \
            ('error', 'not an image (UnidentifiedImageError)')
        decoder._proc.kill()                      # the helper dies between images: the next one restarts it
        decoder._proc.wait()
        assert decoder.decode(photo_png, 'grey.png', 16_000_000, 400_000_000)[0] == 'ok'
    finally:
        decoder.close()


def test_a_stalled_decode_is_stopped_and_the_next_image_is_served(photo_png):
    ok, flat = cv2.imencode('.png', np.full((8000, 8000, 3), 120, np.uint8))
    decoder = CleanDecoder(timeout_s=0.05)
    try:
        assert decoder.decode(flat.tobytes(), 'flat.png', 8_000_000, 64_000_000) == \
            ('error', 'decoding took longer than 0.05 s')
        decoder.timeout_s = 60
        assert decoder.decode(photo_png, 'grey.png', 16_000_000, 400_000_000)[0] == 'ok'
    finally:
        decoder.close()


def test_the_clash_is_detected_from_the_load_order():
    """Paddle imported first binds libz.so.1 into libpaddle's scope; maskhub's zlib import first does not."""
    probe = ('import sys; %s; import paddle; sys.path.insert(0, %r); '
             'from maskhub.io.zlib_order import zlib_bound_to_paddle; print(zlib_bound_to_paddle())')
    answers = [subprocess.run([sys.executable, '-c', probe % (first, str(REPO))], capture_output=True, text=True,
                              timeout=120).stdout.split()[-1] for first in ('pass', 'import zlib')]
    assert answers == ['True', 'False']
    assert any(n.startswith('libz.so') for n in loaded_libraries()) and not zlib_bound_to_paddle()
