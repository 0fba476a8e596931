"""The body of every maskhub hub module's serving method: base64 images in, the official structure out.

One bad image (invalid base64, not an image, too large, too large a detector input at the requested
shrink) gives that image an ``error`` entry and no
faces; the other images are still answered. A bad request (missing or empty ``images``, wrong option
types, over the size limits, fields that would touch server files) raises ``RequestError``, which
PaddleHub's serving returns as ``{"status": "101", "msg": <the message>, "results": ""}``.
"""
import logging

from maskhub.io.images import ImageError, decode_image
from maskhub.serving.codec import Base64Error, base64_to_bytes
from maskhub.serving.validation import check_images, parse_options

log = logging.getLogger(__name__)


def image_name(index):
    """The ``path`` of the index-th request image, as ``MaskDetector.face_detection(images=...)`` names it."""
    return 'ndarray_%d' % index


def error_entry(index, message):
    return {'path': image_name(index), 'data': [], 'error': message}


def check_detector_input(image, index, shrinks, limits):
    """The largest detector pass (image pixels x shrink^2) within ``limits.max_detector_pixels``."""
    height, width = image.shape[:2]
    shrink = max(shrinks)
    pixels = height * width * shrink * shrink
    if pixels > limits.max_detector_pixels:
        raise ImageError('images[%d]' % index,
                         'shrink %g on this %dx%d image gives a %.3g MP detector input (limit %.3g MP): '
                         'send a smaller shrink or image' % (shrink, width, height, pixels / 1e6,
                                                             limits.max_detector_pixels / 1e6))


def predict_base64_images(detector, images, fields, limits):
    """Run ``detector`` (a ``MaskDetector``) on the request's base64 ``images`` with the optional ``fields``
    (shrink, confs_threshold, use_multi_scale, ...) -> one ``{'path', 'data'[, 'error']}`` per image."""
    check_images(images, limits)
    options = parse_options(fields, detector.config)
    # the multi-scale mode runs only the config's shrinks (as the official module), not the request's
    shrinks = list(detector.config.defaults.multi_scale_shrinks) if options.use_multi_scale else [options.shrink]
    results = []
    for index, text in enumerate(images):
        item = 'images[%d]' % index
        try:
            loaded = decode_image(base64_to_bytes(text), item, limits.reduce_pixels, limits.refuse_pixels)
            check_detector_input(loaded.image, index, shrinks, limits)
        except Base64Error as err:
            results.append(error_entry(index, '%s: %s' % (item, err)))
            continue
        except ImageError as err:
            results.append(error_entry(index, str(err)))
            continue
        result = detector.predict_image(loaded.image, options.shrink, options.confs_threshold, options.use_multi_scale,
                                        path=image_name(index), coordinate_scale=loaded.scale)
        results.append(result.to_hub_dict())
    failed = [r['error'] for r in results if 'error' in r]
    if failed:
        log.warning('%d of %d request images refused: %s', len(failed), len(results), '; '.join(failed))
    return results
