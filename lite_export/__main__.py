"""Command line: ``python -m lite_export --model NAME|DIR --out DIR`` and ``python -m lite_export verify DIR``.

Other commands: ``quantise DIR`` (INT8 variant), ``benchmark DIR`` (x86 latency vs Paddle Inference).
"""
import argparse
import json
import logging
import sys
from pathlib import Path

COMMANDS = ('verify', 'quantise', 'benchmark')


def model_name(model):
    from maskhub.config import ModelConfig
    from maskhub.inference.registry import resolve_model_dir
    return ModelConfig.from_yaml(resolve_model_dir(model) / 'model.yml').name


def export_main(argv):
    parser = argparse.ArgumentParser(prog='python -m lite_export',
                                     description='export a maskhub model to Paddle-Lite (.nb for ARM and x86)')
    parser.add_argument('--model', required=True,
                        help="'mobile', 'mobile_crowd', 'server', a model directory, or 'all' (every available model)")
    parser.add_argument('--out', help='bundle directory (default: build/lite/<model name>; with --model all, '
                                      'the parent of the bundles, default build/lite)')
    parser.add_argument('--targets', nargs='+', default=['arm', 'x86'], choices=['arm', 'x86'])
    parser.add_argument('--no-verify', action='store_true', help='skip the x86 verification against Paddle Inference')
    parser.add_argument('--int8', action='store_true', help='also build and evaluate the INT8 variant (minutes)')
    args = parser.parse_args(argv)
    from lite_export.export import export_bundle
    from maskhub.inference.registry import available_models
    if args.model == 'all':
        jobs = [(name, Path(args.out or 'build/lite') / name) for name in available_models()]
    else:
        jobs = [(args.model, Path(args.out) if args.out else Path('build/lite') / model_name(args.model))]
    status = 0
    for model, out in jobs:
        app_config = export_bundle(model, out, targets=args.targets)
        print('wrote %s (%s)' % (out, ', '.join('%s/%s' % (v, n) for v, f in app_config['files'].items() for n in f)))
        if not args.no_verify and 'x86' in args.targets:
            status = verify_main([str(out)]) or status
        if args.int8 and 'x86' in args.targets:
            from lite_export.quantise import main as quantise_main
            status = quantise_main([str(out)]) or status
    return status


def verify_main(argv):
    parser = argparse.ArgumentParser(prog='python -m lite_export verify',
                                     description='compare a bundle\'s x86 .nb with Paddle Inference on real images')
    parser.add_argument('bundle')
    parser.add_argument('--images', nargs='+', help='image files (default: reference + validation images)')
    parser.add_argument('--variant', default='x86', help="'x86' or 'int8_x86'")
    parser.add_argument('--reference', help='model directory for Paddle Inference (default: the bundle\'s source)')
    parser.add_argument('--shrink', type=float)
    args = parser.parse_args(argv)
    from lite_export.verify import verify_bundle
    report = verify_bundle(args.bundle, images=args.images, variant=args.variant, shrink=args.shrink,
                           reference=args.reference)
    summary = {k: v for k, v in report.items() if k != 'per_image'}
    print(json.dumps(summary, indent=2))
    for row in report['per_image']:
        if not row['passed']:
            print('FAILED %s: %s' % (row['image'], {k: v for k, v in row.items() if k != 'image'}))
    print('verification %s' % ('PASSED' if report['passed'] else 'FAILED'))
    return 0 if report['passed'] else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    if argv and argv[0] == 'verify':
        return verify_main(argv[1:])
    if argv and argv[0] == 'quantise':
        from lite_export.quantise import main as quantise_main
        return quantise_main(argv[1:])
    if argv and argv[0] == 'benchmark':
        from lite_export.benchmark import main as benchmark_main
        return benchmark_main(argv[1:])
    return export_main(argv)


if __name__ == '__main__':
    sys.exit(main())
