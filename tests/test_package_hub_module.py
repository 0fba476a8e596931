"""finetune.package --hub-module: a complete, loadable PaddleHub module from weights."""
import numpy as np

from finetune.package import main as package_main
from maskhub import MaskDetector
from maskhub.inference.registry import resolve_model_dir


def test_package_writes_a_hub_module_that_predicts_like_its_weights(tmp_path, example_images):
    mobile = resolve_model_dir('mobile')
    out = tmp_path / 'my_crowd_mask'
    package_main(['--detector-weights', str(mobile / 'detector.pdparams'),
                  '--classifier-weights', str(mobile / 'classifier.pdparams'),
                  '--config', 'pyramidbox_lite_mobile', '--name', 'my_crowd',
                  '--hub-module', 'my_crowd_mask', '--out', str(out)])
    source = (out / 'module.py').read_text()
    assert "name='my_crowd_mask'" in source and 'class MyCrowdMask(MaskHubModule)' in source
    compile(source, 'module.py', 'exec')

    import paddlehub as hub
    module = hub.Module(directory=str(out))
    path = str(example_images[0])
    got = module.face_detection(paths=[path])[0]['data']
    expected = MaskDetector('mobile').face_detection(paths=[path])[0]['data']
    assert [f['label'] for f in got] == [f['label'] for f in expected]
    assert [[f[k] for k in ('left', 'top', 'right', 'bottom')] for f in got] == \
        [[f[k] for k in ('left', 'top', 'right', 'bottom')] for f in expected]
    np.testing.assert_allclose([f['confidence'] for f in got], [f['confidence'] for f in expected], atol=1e-5)


def test_several_detector_checkpoints_are_averaged(tmp_path, capsys):
    import paddle
    from finetune.package import averaged_state
    mobile = resolve_model_dir('mobile')
    official = paddle.load(str(mobile / 'detector.pdparams'))
    doubled = {k: v * 3 for k, v in official.items()}
    paddle.save(doubled, str(tmp_path / 'b.pdparams'))
    mean = averaged_state([mobile / 'detector.pdparams', tmp_path / 'b.pdparams'])
    np.testing.assert_allclose(mean['head8.conf.weight'].numpy(), 2 * official['head8.conf.weight'].numpy(), rtol=1e-6)
    out = tmp_path / 'model'
    assert package_main(['--detector-weights', str(mobile / 'detector.pdparams'), str(tmp_path / 'b.pdparams'),
                         '--classifier-weights', str(mobile / 'classifier.pdparams'), '--config',
                         'pyramidbox_lite_mobile', '--name', 'avg', '--out', str(out)]) == 0
    packaged = paddle.load(str(out / 'detector.pdparams'))
    np.testing.assert_allclose(packaged['head16.loc.bias'].numpy(), 2 * official['head16.loc.bias'].numpy(), rtol=1e-6)
    paddle.save({k: v for k, v in official.items() if k != 'head8.conf.weight'}, str(tmp_path / 'c.pdparams'))
    assert package_main(['--detector-weights', str(mobile / 'detector.pdparams'), str(tmp_path / 'c.pdparams'),
                         '--classifier-weights', str(mobile / 'classifier.pdparams'), '--config',
                         'pyramidbox_lite_mobile', '--name', 'avg', '--out', str(tmp_path / 'bad')]) == 2
    assert 'cannot average them' in capsys.readouterr().err
