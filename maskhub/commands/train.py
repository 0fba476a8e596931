"""maskhub train --config FILE [--data SPEC] [--val-data SPEC] [--name NAME]

A training config (``finetune/configs/*.yml``) says what to train and how; ``--data`` / ``--val-data``
replace its ``data:`` sources with your own (``voc:DIR``, ``wider:GT_FILE[:IMAGES]``, ``yaml:FILE``).
A run writes into one folder, ``work_dirs/NAME`` (``--work-dir``): a new run refuses a folder that holds
another run's checkpoints, and ``--resume`` continues the run in it.
"""
import json
import logging
from pathlib import Path

from maskhub.data.sources import SPEC_HELP
from maskhub.errors import UsageError

log = logging.getLogger('finetune')


def add_arguments(parser):
    parser.add_argument('--config', required=True, metavar='FILE',
                        help='training config, e.g. finetune/configs/mobile_crowd_detector.yml (detector) or '
                             'finetune/configs/mask_classifier.yml (classifier)')
    parser.add_argument('--data', metavar='SPEC',
                        help="training images, replacing the config's data.train: %s" % SPEC_HELP)
    parser.add_argument('--val-data', metavar='SPEC',
                        help="validation images, replacing the config's data.val (default with --data: the val: "
                             "entry of a yaml: file, else the training images)")
    parser.add_argument('--name', help="run name (default: the config's name)")
    parser.add_argument('--work-dir', metavar='DIR', help='run folder for checkpoints and train.log '
                                                          '(default: work_dirs/NAME)')
    parser.add_argument('--resume', action='store_true', help='continue the run in the run folder from its '
                                                              'latest checkpoint')
    parser.add_argument('--epochs', type=int, help="number of epochs (default: the config's train.epochs)")
    parser.add_argument('--iters-per-epoch', type=int, help="iterations per epoch (default: the config's)")
    parser.add_argument('--batch-size', type=int, help="images (detector) or faces (classifier) per batch "
                                                       "(default: the config's)")


def apply_overrides(cfg, args):
    """The config with the command line's data, name and schedule laid over it."""
    cfg = dict(cfg, train=dict(cfg['train']), data=dict(cfg.get('data') or {}))
    if args.name:
        cfg['name'] = args.name
    for key, value in (('iters_per_epoch', args.iters_per_epoch), ('batch_size', args.batch_size)):
        if value is not None:
            if value < 1:
                raise UsageError('--%s must be at least 1' % key.replace('_', '-'))
            cfg['train'][key] = value
    if args.epochs is not None and args.epochs < 1:
        raise UsageError('--epochs must be at least 1')
    if args.data:
        cfg['data']['train'] = [args.data]
        cfg['data']['val'] = [args.val_data or args.data]
        if not args.val_data and not args.data.startswith('yaml:'):
            log.warning('no --val-data: validating on the training images (give --val-data for a held-out set)')
        cfg['data'].setdefault('val_images_per_source', 16)
    elif args.val_data:
        cfg['data']['val'] = [args.val_data]
    return cfg


def prepare_work_dir(work_dir, resume):
    """One run per folder (``finetune.train.Checkpoints.prepare``), checked before anything is written."""
    from finetune.train import Checkpoints, TrainingError
    try:
        Checkpoints(work_dir).prepare(resume)
    except TrainingError as err:
        raise UsageError(str(err)) from err
    except OSError as err:
        raise UsageError('--work-dir %s: cannot create it (%s)' % (work_dir, err.strerror or err)) from err
    return Path(work_dir)


def check_data(cfg):
    """Fail before the run folder is made when a data source is missing or unusable (DataError)."""
    from finetune.datasets import load_samples
    defaults = ['mask'] if cfg['task'] == 'classifier' else ['wider', 'mask']
    for split in ('train', 'val'):
        load_samples(cfg['data'].get(split, defaults), split, require_labels=cfg['task'] == 'classifier')


def run(args):
    if not Path(args.config).is_file():
        raise UsageError('--config %s: file not found (the shipped configs are in finetune/configs/)' % args.config)
    from finetune.train import TrainingError, load_config, train
    try:
        cfg = load_config(args.config)
    except (ValueError, KeyError, OSError) as err:
        raise UsageError('--config %s: %s' % (args.config, err)) from err
    cfg = apply_overrides(cfg, args)
    check_data(cfg)
    work_dir = prepare_work_dir(args.work_dir or Path('work_dirs') / cfg['name'], args.resume)
    handler = logging.FileHandler(work_dir / 'train.log', encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
    logging.getLogger().addHandler(handler)
    try:
        (work_dir / 'config.yml').write_text(_yaml(cfg), encoding='utf-8')
        log.info('run folder %s (checkpoints, train.log, config.yml)', work_dir)
        history = train(cfg, resume=args.resume, epochs=args.epochs, work_dir=work_dir)
    except TrainingError as err:
        raise UsageError(str(err)) from err
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    if history:
        print(json.dumps(history[-1]))
    print('run folder: %s' % work_dir)
    return 0


def _yaml(cfg):
    import yaml
    return yaml.safe_dump(cfg, sort_keys=False)
