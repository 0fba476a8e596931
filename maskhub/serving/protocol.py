"""Protocol errors of ``POST /predict/<module>`` as the protocol's JSON, never an HTML page.

PaddleHub's Flask app answers a wrong Content-Type with an HTML 415, a body that is a JSON list or
string, or JSON nested 100,000 deep, with an HTML 500 (``predict_v2`` does ``dict.update(body)``;
``json.loads`` raises ``RecursionError``), and reads any body however large. ``install(limits)``
fixes that for every Flask app in the process, from the outside (a hub module cannot touch the app
``hub serving`` builds), with Flask's signals:

- ``request_started`` (before PaddleHub's code runs): a /predict request whose declared size is over
  the limit is answered 413 before its body is read; one that is not ``application/json`` 415; one
  whose body is not JSON, too deeply nested, or not a JSON object 400;
- ``request_finished``: any HTML error page that still comes out of /predict (404, 405, 500, ...) is
  rewritten into JSON with the same status code.

Each answer is ``{"status": "101", "msg": <what is wrong>, "results": ""}``.
"""
import json
import logging
import threading

log = logging.getLogger(__name__)
ERROR_STATUS = '101'
PREDICT_PREFIX = '/predict/'

_installed = {'limit': None}
_install_lock = threading.Lock()


class ProtocolError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code, self.msg = code, msg


def error_payload(msg):
    return {'status': ERROR_STATUS, 'msg': msg, 'results': ''}


def error_response(code, msg):
    from flask import Response
    return Response(json.dumps(error_payload(msg)), status=code, mimetype='application/json')


def check_predict_request(request, max_body_bytes):
    """Raise ``ProtocolError`` when ``request`` (a Flask request to /predict) cannot be a valid call.
    Reads the body only when its declared size is within ``max_body_bytes``; parses it once (Flask caches it)."""
    if request.method != 'POST':
        return
    length = request.content_length
    if max_body_bytes and length is not None and length > max_body_bytes:
        raise ProtocolError(413, 'request body too large: %.1f MB (limit %.1f MB); send fewer or smaller images'
                            % (length / (1 << 20), max_body_bytes / (1 << 20)))
    if request.mimetype != 'application/json':
        raise ProtocolError(415, 'Content-Type must be application/json, got %s'
                            % (repr(request.content_type) if request.content_type else 'none'))
    try:
        body = request.get_json(force=True, silent=False)
    except RecursionError:
        raise ProtocolError(400, 'JSON nested too deeply: send {"images": ["<base64>", ...]}') from None
    except Exception as err:     # werkzeug BadRequest / RequestEntityTooLarge, UnicodeDecodeError
        code = getattr(err, 'code', None) or 400
        if code == 413:
            raise ProtocolError(413, 'request body too large (limit %.1f MB)' % (max_body_bytes / (1 << 20))) from None
        raise ProtocolError(400, 'body is not valid JSON: send {"images": ["<base64>", ...]}') from None
    if not isinstance(body, dict):
        raise ProtocolError(400, 'body must be a JSON object {"images": ["<base64>", ...]}, got a JSON %s'
                            % {list: 'list', str: 'string', int: 'number', float: 'number', bool: 'boolean',
                               type(None): 'null'}.get(type(body), type(body).__name__))


def _on_request_started(sender, **_):
    from flask import abort, request
    if not request.path.startswith(PREDICT_PREFIX):
        return
    limit = _installed['limit']
    if limit and not sender.config.get('MAX_CONTENT_LENGTH'):
        sender.config['MAX_CONTENT_LENGTH'] = limit       # also bounds chunked bodies without a length
    try:
        check_predict_request(request, limit)
    except ProtocolError as err:
        log.warning('%s %s refused (%d): %s', request.method, request.path, err.code, err.msg)
        abort(error_response(err.code, err.msg))


def http_error_message(code):
    """The ``msg`` of an HTTP error answered for the current request."""
    from flask import request
    from werkzeug.http import HTTP_STATUS_CODES
    if code == 405:
        return 'method %s not allowed: POST {"images": ["<base64>", ...]} to %s' % (request.method, request.path)
    return '%s (HTTP %d)' % (HTTP_STATUS_CODES.get(code, 'error'), code)


def _on_request_finished(sender, response, **_):
    from flask import request
    if not request.path.startswith(PREDICT_PREFIX) or response.status_code < 400:
        return
    if response.mimetype == 'application/json':
        return
    response.set_data(json.dumps(error_payload(http_error_message(response.status_code))))
    response.mimetype = 'application/json'


def install(max_body_bytes):
    """Connect the guards (once per process; a later call only changes the body limit)."""
    import flask
    with _install_lock:
        first = _installed['limit'] is None
        _installed['limit'] = int(max_body_bytes)
        if first:
            flask.request_started.connect(_on_request_started)
            flask.request_finished.connect(_on_request_finished)
