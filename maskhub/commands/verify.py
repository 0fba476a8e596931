"""maskhub verify BUNDLE: a Paddle-Lite bundle's x86 .nb files against Paddle Inference on real images.

Writes BUNDLE/verification.json; exit status 1 when some image does not match.
"""
import json


def add_arguments(parser):
    parser.add_argument('bundle', metavar='BUNDLE', help='bundle folder written by maskhub export')
    parser.add_argument('--images', nargs='+', metavar='IMAGE',
                        help='image files (default: the development reference and val images if present, '
                             'else examples/images)')
    parser.add_argument('--variant', default='x86', choices=['x86', 'int8_x86'], help='which .nb files to check')
    parser.add_argument('--reference', metavar='MODEL_DIR',
                        help="model folder for Paddle Inference (default: the bundle's source)")
    parser.add_argument('--shrink', type=float, help="detector input scale (default: the bundle's defaults.shrink)")


def verify(bundle, images=None, variant='x86', shrink=None, reference=None):
    from lite_export.verify import verify_bundle
    from maskhub.errors import UsageError
    try:
        report = verify_bundle(bundle, images=images, variant=variant, shrink=shrink, reference=reference)
    except FileNotFoundError as err:
        raise UsageError('verify %s: %s' % (bundle, err)) from err
    print(json.dumps({k: v for k, v in report.items() if k != 'per_image'}, indent=2))
    for row in report['per_image']:
        if not row['passed']:
            print('FAILED %s: %s' % (row['image'], {k: v for k, v in row.items() if k != 'image'}))
    print('verification %s (%s/verification%s.json)' % ('PASSED' if report['passed'] else 'FAILED', bundle,
                                                         '' if variant == 'x86' else '_' + variant))
    return 0 if report['passed'] else 1


def run(args):
    return verify(args.bundle, args.images, args.variant, args.shrink, args.reference)
