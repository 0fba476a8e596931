"""The body of every maskhub hub module's serving method: base64 images in, the official structure out.

One bad image (invalid base64, not an image, too large, too large a detector input at the requested
shrink, over the request's detector budget or time limit) gives that image an ``error`` entry and no
faces; the other images are still answered. A bad request (missing or empty ``images``, wrong option
types, over the size limits, fields that would touch server files) raises ``RequestError``, which
PaddleHub's serving returns as ``{"status": "101", "msg": <the message>, "results": ""}``.
"""
import functools
import logging
import time

from maskhub.io.images import ImageError, decode_image
from maskhub.serving.codec import Base64Error, base64_to_bytes
from maskhub.serving.lane import ADMISSION, LANE, Busy, LaneTimeout, release_memory
from maskhub.serving.validation import RequestError, check_images, parse_options

log = logging.getLogger(__name__)


def image_name(index):
    """The ``path`` of the index-th request image, as ``MaskDetector.face_detection(images=...)`` names it."""
    return 'ndarray_%d' % index


def error_entry(index, message):
    return {'path': image_name(index), 'data': [], 'error': message}


def detector_pixels(image, shrinks):
    """Pixels of each detector pass over ``image`` (decoded pixels x shrink^2)."""
    height, width = image.shape[:2]
    return [height * width * s * s for s in shrinks]


def check_detector_input(image, index, shrinks, limits):
    """The largest detector pass (image pixels x shrink^2) within ``limits.max_detector_pixels``."""
    height, width = image.shape[:2]
    shrink = max(shrinks)
    pixels = max(detector_pixels(image, shrinks))
    if pixels > limits.max_detector_pixels:
        raise ImageError('images[%d]' % index,
                         'shrink %g on this %dx%d image gives a %.3g MP detector input (limit %.3g MP): '
                         'send a smaller shrink or image' % (shrink, width, height, pixels / 1e6,
                                                             limits.max_detector_pixels / 1e6))


def predict_base64_images(detector, images, fields, limits):
    """Run ``detector`` (a ``MaskDetector``) on the request's base64 ``images`` with the optional ``fields``
    (shrink, confs_threshold, use_multi_scale, ...) -> one ``{'path', 'data'[, 'error']}`` per image.

    The request holds one admission slot, decodes one image at a time, and sends each to the process's
    inference lane (fair between requests, one image at a time). Its detector work is bounded by
    ``max_request_detector_pixels`` (all passes of all images) and its time by ``max_request_seconds``:
    images over either budget get an error saying so, the others their faces."""
    check_images(images, limits)
    options = parse_options(fields, detector.config)
    # the multi-scale mode runs only the config's shrinks (as the official module), not the request's
    shrinks = list(detector.config.defaults.multi_scale_shrinks) if options.use_multi_scale else [options.shrink]
    try:
        with ADMISSION.slot(limits.max_concurrent_requests, limits.queue_wait_seconds):
            return _predict_admitted(detector, images, options, shrinks, limits)
    except Busy as err:
        raise RequestError(str(err)) from None


def _predict_on_lane(detector, loaded, options, name, release):
    """One image on the lane thread; after a large pass, the memory Paddle kept for it is given back
    before the next image (so a request's peak is that of its largest pass, not the sum)."""
    try:
        return detector.predict_image(loaded.image, options.shrink, options.confs_threshold, options.use_multi_scale,
                                      path=name, coordinate_scale=loaded.scale)
    finally:
        if release:
            release_memory(detector)


def _predict_admitted(detector, images, options, shrinks, limits):
    deadline = time.monotonic() + limits.max_request_seconds
    budget = limits.max_request_detector_pixels
    results = []
    for index, text in enumerate(images):
        item = 'images[%d]' % index
        if time.monotonic() >= deadline:
            results.append(error_entry(index, '%s: not processed: the request ran past its time limit of %g s; '
                                              'send fewer or smaller images per request'
                                       % (item, limits.max_request_seconds)))
            continue
        try:
            loaded = decode_image(base64_to_bytes(text), item, limits.reduce_pixels, limits.refuse_pixels)
            check_detector_input(loaded.image, index, shrinks, limits)
        except Base64Error as err:
            results.append(error_entry(index, '%s: %s' % (item, err)))
            continue
        except ImageError as err:
            results.append(error_entry(index, str(err)))
            continue
        cost = sum(detector_pixels(loaded.image, shrinks))
        if cost > budget:
            results.append(error_entry(index, '%s: not processed: the request\'s detector budget of %.3g MP is used '
                                              'up (this image needs %.3g MP at shrink %g); send fewer images per '
                                              'request or a smaller shrink'
                                       % (item, limits.max_request_detector_pixels / 1e6, cost / 1e6,
                                          max(shrinks))))
            continue
        budget -= cost
        release = max(detector_pixels(loaded.image, shrinks)) > limits.release_memory_pixels
        try:
            result = LANE.run(functools.partial(_predict_on_lane, detector, loaded, options, image_name(index),
                                                release), deadline=deadline)
        except LaneTimeout as err:
            where = 'waiting for the detector' if str(err) == 'queued' else 'in the detector'
            results.append(error_entry(index, '%s: not processed: the request ran past its time limit of %g s '
                                              '%s; send fewer or smaller images per request'
                                       % (item, limits.max_request_seconds, where)))
            continue
        results.append(result.to_hub_dict())
    failed = [r['error'] for r in results if 'error' in r]
    if failed:
        log.warning('%d of %d request images refused: %s', len(failed), len(results), '; '.join(failed))
    return results
