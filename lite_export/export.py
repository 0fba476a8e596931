"""One model -> a Paddle-Lite bundle directory.

    build/lite/<name>/
        model_config.json            what an app needs (lite_export.app_config)
        arm/detector.nb, arm/classifier.nb      for phones (Paddle-Lite ARM kernels)
        x86/detector.nb, x86/classifier.nb      the same graphs for x86, used for verification
        paddle/                      the paddle.jit.save graphs the .nb files were made from
        int8/                        INT8 files kept by ``python -m lite_export quantise``
        verification.json            written by ``python -m lite_export verify``
        benchmark.json               written by ``python -m lite_export benchmark``
"""
import logging
import shutil
from pathlib import Path

from lite_export.app_config import build_app_config, write_app_config
from lite_export.convert import TARGETS, opt_version, paddlelite_package_version, run_opt
from lite_export.graph_fixes import write_lite_ready_graph
from maskhub.config import ModelConfig
from maskhub.inference.registry import REPO_ROOT, resolve_model_dir

log = logging.getLogger(__name__)

NETWORKS = ('detector', 'classifier')


def stage_paddle_graphs(model_dir, stage_dir):
    """paddle.jit.save both networks from the model's .pdparams into ``stage_dir`` (copying the exported
    .pdmodel/.pdiparams instead when the model directory has no dygraph weights)."""
    from maskhub.inference.export import export_inference
    model_dir, stage_dir = Path(model_dir), Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / 'model.yml', stage_dir / 'model.yml')
    if all((model_dir / ('%s.pdparams' % net)).is_file() for net in NETWORKS):
        for net in NETWORKS:
            shutil.copy2(model_dir / ('%s.pdparams' % net), stage_dir / ('%s.pdparams' % net))
        export_inference(ModelConfig.from_yaml(stage_dir / 'model.yml'), stage_dir)
        return 'paddle.jit.save from %s/*.pdparams' % model_dir.name
    for net in NETWORKS:
        for suffix in ('.pdmodel', '.pdiparams'):
            shutil.copy2(model_dir / (net + suffix), stage_dir / (net + suffix))
    return 'copied %s/*.pdmodel (no .pdparams)' % model_dir.name


def lite_files(targets, prefix=''):
    return {prefix + t: {net: '%s%s/%s.nb' % (prefix.replace('_', '/'), t, net) for net in NETWORKS} for t in targets}


def display_path(path):
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def export_bundle(model, out_dir, targets=TARGETS):
    """Write the bundle of ``model`` (name or model dir) into ``out_dir``; returns the model_config dict."""
    model_dir = resolve_model_dir(model)
    config = ModelConfig.from_yaml(model_dir / 'model.yml')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ('int8', 'paddle'):        # INT8 files of an earlier export would not match the new graphs
        shutil.rmtree(out / stale, ignore_errors=True)
    stage = out / 'paddle'
    how = stage_paddle_graphs(model_dir, stage)
    rewrites = {}
    for net in NETWORKS:
        rewrites[net] = write_lite_ready_graph(stage / net, stage / 'lite_ready' / net)
        for target in targets:
            run_opt(stage / 'lite_ready' / net, target, out / target / ('%s.nb' % net))
    app_config = build_app_config(
        config, files=lite_files(targets),
        paddle_lite={'opt_version': opt_version(), 'python_package': 'paddlelite==%s' % paddlelite_package_version()},
        source={'model_dir': display_path(model_dir), 'exported_by': how},
        graph_rewrites={net: r for net, r in rewrites.items() if r})
    write_app_config(app_config, out)
    log.info('wrote %s', out)
    return app_config
