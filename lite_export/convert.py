"""Paddle inference graph (.pdmodel/.pdiparams) -> Paddle-Lite ``.nb`` via the ``paddlelite`` package's ``Opt``.

``opt`` runs in a child process (``python -m lite_export.convert``): on some graphs it crashes with a
segfault instead of raising, and that must not take the exporter down with it.
"""
import argparse
import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

TARGETS = ('arm', 'x86')


class ConversionError(RuntimeError):
    pass


def opt_version():
    """The Paddle-Lite version that ``opt`` writes into ``.nb`` files, e.g. 'v2.13-rc'."""
    from paddlelite import lite
    return lite.Opt().version()


def paddlelite_package_version():
    from importlib.metadata import version
    return version('paddlelite')


def run_opt(prefix, target, out_nb, quantise_weights=False, timeout_s=600):
    """Optimise ``<prefix>.pdmodel/.pdiparams`` for ``target`` ('arm' or 'x86') into ``out_nb`` (a .nb path).

    ``quantise_weights`` stores conv/fc weights as int8 (Paddle-Lite's dynamic weight quantisation).
    """
    if target not in TARGETS:
        raise ValueError('target must be one of %s, got %r' % (TARGETS, target))
    prefix, out_nb = Path(prefix), Path(out_nb)
    out_nb.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'lite_export.convert', str(prefix.with_suffix('.pdmodel')),
           str(prefix.with_suffix('.pdiparams')), target, str(out_nb.with_suffix(''))]
    if quantise_weights:
        cmd.append('--quantise-weights')
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not out_nb.is_file():
        raise ConversionError('Paddle-Lite opt failed for %s -> %s (exit %d):\n%s' % (
            prefix, out_nb, done.returncode, (done.stdout + done.stderr)[-3000:]))
    log.info('opt %s [%s] -> %s (%d bytes)', prefix.name, target, out_nb, out_nb.stat().st_size)
    return out_nb


def _opt_in_this_process(model_file, param_file, target, out_stem, quantise_weights):
    from paddlelite import lite
    opt = lite.Opt()
    opt.set_model_file(model_file)
    opt.set_param_file(param_file)
    opt.set_valid_places(target)
    opt.set_model_type('naive_buffer')
    opt.set_optimize_out(out_stem)
    if quantise_weights:
        opt.set_quant_model(True)
        opt.set_quant_type('QUANT_INT8')
    opt.run()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='run Paddle-Lite opt once (used as a child process)')
    parser.add_argument('model_file')
    parser.add_argument('param_file')
    parser.add_argument('target', choices=TARGETS)
    parser.add_argument('out_stem', help='output path without .nb')
    parser.add_argument('--quantise-weights', action='store_true')
    a = parser.parse_args()
    _opt_in_this_process(a.model_file, a.param_file, a.target, a.out_stem, a.quantise_weights)
