"""``python -m maskhub.serving.app``: PaddleHub's own serving app, with a host and a hard body limit.

    python -m maskhub.serving.app hub_modules/pyramidbox_lite_mobile_mask --port 8866 --max-request-mb 32

Same routes, protocol and answers as ``hub serving start`` (it builds PaddleHub's Flask app with
``paddlehub.serving.app_compat.create_app``), plus what ``hub serving`` cannot set: it listens on
127.0.0.1 unless ``--host`` says otherwise, a body over ``--max-request-mb`` is refused with HTTP 413
before it is read, every protocol error (413, 415, 400 for a body that is not a JSON object, 404, 405,
500) is the protocol's JSON ``{"status": "101", "msg": ...}``, and clients are served concurrently
with the detector shared fairly, one image at a time (``maskhub.serving.lane``). This is the
documented way to expose the endpoint (behind a reverse proxy for TLS if it leaves the machine).
"""
import logging
import sys
from pathlib import Path

from maskhub.serving.limits import MB, ServingLimits

log = logging.getLogger(__name__)


def load_module(spec):
    """A module directory or an installed module name -> the loaded PaddleHub module."""
    import paddlehub as hub
    return hub.Module(directory=str(spec)) if Path(spec).is_dir() else hub.Module(name=spec)


def module_config(module):
    """The entry ``hub serving`` builds for each module (see paddlehub/commands/serving.py)."""
    method_name = module.serving_func_name
    if method_name is None:
        raise ValueError('module %s has no @serving method' % module.name)
    return {'init_args': {}, 'predict_args': {}, 'method_name': method_name, 'version': module.version,
            'category': str(module.type).split('/')[0].upper(), 'module': module, 'name': module.name,
            'serving_method': getattr(module, method_name)}


def build_app(modules, max_request_bytes):
    """PaddleHub's app for ``modules``, with every error answered as the protocol's JSON."""
    from paddlehub.serving import app_compat
    from werkzeug.exceptions import HTTPException

    from maskhub.serving import protocol
    app = app_compat.create_app(init_flag=False, configs={m.name: module_config(m) for m in modules})
    app.config['MAX_CONTENT_LENGTH'] = int(max_request_bytes)
    protocol.install(max_request_bytes)

    @app.errorhandler(HTTPException)
    def http_error(err):
        return protocol.error_response(err.code, protocol.http_error_message(err.code))

    @app.errorhandler(Exception)
    def unexpected_error(err):        # PaddleHub's file logger cannot log it; answer JSON, log here
        log.exception('unexpected error on %s', _request_path())
        return protocol.error_response(500, 'internal server error (%s); the server keeps running'
                                       % type(err).__name__)
    return app


def _request_path():
    from flask import request
    return request.path


def add_arguments(parser):
    # the body is the base64 images (limited again, per request, by the serving method) plus JSON around them
    default_mb = ServingLimits.from_env().max_request_bytes / MB + 1
    parser.add_argument('modules', nargs='+', metavar='MODULE', help='module directories or installed module names')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (default %(default)s)')
    parser.add_argument('--port', type=int, default=8866, help='port to listen on (default %(default)s)')
    parser.add_argument('--max-request-mb', type=float, default=default_mb,
                        help='largest request body in MB, refused with HTTP 413 (default: '
                             'MASKHUB_SERVING_MAX_REQUEST_MB + 1 = %(default)s)')


def serve(args):
    if args.max_request_mb <= 0:
        from maskhub.errors import UsageError
        raise UsageError('--max-request-mb must be > 0')
    app = build_app([load_module(spec) for spec in args.modules], args.max_request_mb * MB)
    # threads accept clients concurrently; the detector itself runs on one lane thread, one image at a time
    # in arrival order (maskhub.serving.lane), so a heavy request cannot hold it for all its images
    app.run(host=args.host, port=args.port, debug=False, threaded=True)
    return 0


def main(argv=None):
    """``python -m maskhub.serving.app``: the same as ``maskhub serve``."""
    from maskhub.cli import main as cli
    return cli(['serve', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
    sys.exit(main())
