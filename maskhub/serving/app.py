"""``python -m maskhub.serving.app``: PaddleHub's own serving app, with a host and a hard body limit.

    python -m maskhub.serving.app hub_modules/pyramidbox_lite_mobile_mask --port 8866 --max-request-mb 32

Same routes, protocol and answers as ``hub serving start`` (it builds PaddleHub's Flask app with
``paddlehub.serving.app_compat.create_app``), plus what ``hub serving`` cannot set: it listens on
127.0.0.1 unless ``--host`` says otherwise, and Flask's ``MAX_CONTENT_LENGTH`` refuses a larger body
with HTTP 413 before reading it. One process, one request at a time.
"""
import logging
import sys
from pathlib import Path

from maskhub.serving.limits import MB, ServingLimits


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
    from paddlehub.serving import app_compat
    app = app_compat.create_app(init_flag=False, configs={m.name: module_config(m) for m in modules})
    app.config['MAX_CONTENT_LENGTH'] = int(max_request_bytes)
    return app


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
    app.run(host=args.host, port=args.port, debug=False, threaded=False)
    return 0


def main(argv=None):
    """``python -m maskhub.serving.app``: the same as ``maskhub serve``."""
    from maskhub.cli import main as cli
    return cli(['serve', *(sys.argv[1:] if argv is None else argv)])


if __name__ == '__main__':
    sys.exit(main())
