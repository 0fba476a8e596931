"""maskhub export --model NAME|DIR|all [--out DIR]: Paddle-Lite bundles (.nb for ARM and x86), verified.

Each bundle is then checked as ``maskhub verify`` does (x86 .nb against Paddle Inference on real images),
which writes ``verification.json`` into it; ``--int8`` adds the INT8 variant.
"""
from pathlib import Path

from maskhub.commands.common import prepare_out
from maskhub.commands.verify import verify


def add_arguments(parser):
    parser.add_argument('--model', required=True,
                        help="'mobile', 'mobile_crowd', 'server', a model directory, or 'all' (every available model)")
    parser.add_argument('--out', help='bundle folder (default: build/lite/MODEL_NAME; with --model all, the parent '
                                      'of the bundles, default build/lite)')
    parser.add_argument('--exist-ok', action='store_true', help='write into a bundle folder that already holds files')
    parser.add_argument('--targets', nargs='+', default=['arm', 'x86'], choices=['arm', 'x86'],
                        help='Paddle-Lite targets: arm for phones, x86 for the verification on this machine')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the verification (maskhub verify BUNDLE runs it later)')
    parser.add_argument('--images', nargs='+', metavar='IMAGE',
                        help='verification images (default: the development val images if present, else '
                             'examples/images)')
    parser.add_argument('--int8', action='store_true', help='also build and evaluate the INT8 variant (minutes)')


def model_name(model):
    from maskhub.config import ModelConfig
    from maskhub.inference.registry import resolve_model_dir
    return ModelConfig.from_yaml(resolve_model_dir(model) / 'model.yml').name


def run(args):
    from lite_export.export import export_bundle
    from maskhub.inference.registry import available_models
    if args.model == 'all':
        jobs = [(name, Path(args.out or 'build/lite') / name) for name in available_models()]
    else:
        jobs = [(args.model, Path(args.out) if args.out else Path('build/lite') / model_name(args.model))]
    status = 0
    for model, out in jobs:
        prepare_out(out, args.exist_ok)
        app_config = export_bundle(model, out, targets=args.targets)
        print('wrote %s (%s)' % (out, ', '.join('%s/%s' % (v, n) for v, f in app_config['files'].items() for n in f)))
        if not args.no_verify and 'x86' in args.targets:
            status = max(status, verify(out, images=args.images))
        if args.int8 and 'x86' in args.targets:
            from lite_export.quantise import main as quantise_main
            status = max(status, quantise_main([str(out)]) or 0)
    return status
