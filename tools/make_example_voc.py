"""Write a small Pascal VOC folder to try training on: ``python tools/make_example_voc.py my_faces``.

It holds the three Kaggle photos of tests/data (CC0) with the official model's faces at shrink 0.5 as
their boxes and labels: ``my_faces/images/*.jpg`` and ``my_faces/annotations/*.xml``, the layout
``--data voc:my_faces`` reads. Your own data has the same layout (e.g. exported from LabelImg or CVAT
as Pascal VOC, with the labels with_mask, without_mask, mask_weared_incorrect).
"""
import argparse
import shutil
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import pandas as pd

REFERENCE = Path(__file__).resolve().parents[1] / 'tests' / 'data' / 'reference'
VOC_NAMES = {'MASK': 'with_mask', 'NO MASK': 'without_mask'}


def voc_xml(filename, width, height, faces):
    """Pascal VOC annotation text; ``faces``: (voc label, x1, y1, x2, y2)."""
    objects = ''.join('  <object><name>%s</name><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>'
                      '<ymax>%d</ymax></bndbox></object>\n' % (escape(name), x1, y1, x2, y2)
                      for name, x1, y1, x2, y2 in faces)
    return ('<annotation>\n  <filename>%s</filename>\n  <size><width>%d</width><height>%d</height><depth>3</depth>'
            '</size>\n%s</annotation>\n' % (escape(filename), width, height, objects))


def write_voc_folder(folder, images=None):
    """The example VOC folder (optionally only the image files named in ``images``); returns its Path."""
    table = pd.read_csv(REFERENCE / 'expected_table.csv')
    table = table[table['shrink'] == 0.5]
    folder = Path(folder)
    (folder / 'images').mkdir(parents=True, exist_ok=True)
    (folder / 'annotations').mkdir(exist_ok=True)
    for name, faces in table.groupby('image'):
        if images is not None and name not in images:
            continue
        src = REFERENCE / 'images' / name
        shutil.copy(src, folder / 'images' / name)
        h, w = cv2.imread(str(src)).shape[:2]
        boxes = [(VOC_NAMES[f.label], f.left, f.top, f.right, f.bottom) for f in faces.itertuples()]
        (folder / 'annotations' / (Path(name).stem + '.xml')).write_text(voc_xml(name, w, h, boxes), encoding='utf-8')
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='folder to write (images/ and annotations/)')
    args = parser.parse_args(argv)
    folder = write_voc_folder(args.out)
    print('wrote %s: %d images; train with --data voc:%s' % (folder, len(list((folder / 'images').glob('*.jpg'))),
                                                             folder))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
