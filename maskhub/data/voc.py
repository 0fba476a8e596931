"""Pascal VOC readers for the face-mask sets (images/<id>.jpg + annotations/<id>.xml)."""
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from maskhub.data.samples import VOC_LABEL_MAP, Sample


def read_voc_file(xml_path, images_dir, source=''):
    root = ET.parse(xml_path).getroot()
    image_id = Path(xml_path).stem
    size = root.find('size')
    width, height = (int(size.findtext(k)) for k in ('width', 'height'))
    boxes, labels = [], []
    for obj in root.iter('object'):
        name = obj.findtext('name').strip()
        if name not in VOC_LABEL_MAP:
            raise ValueError('%s: unknown label %r' % (xml_path, name))
        bb = obj.find('bndbox')
        boxes.append([float(bb.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax')])
        labels.append(VOC_LABEL_MAP[name])
    named = Path(images_dir) / Path(root.findtext('filename') or '').name
    path = named if named.suffix and named.is_file() else Path(images_dir) / ('%s.jpg' % image_id)
    return Sample(path=str(path), boxes=np.asarray(boxes, np.float32),
                  labels=labels, image_id=image_id, source=source, width=width, height=height)


def read_voc_dir(directory):
    """All samples of one mask-set folder, sorted by id; ``source`` is the folder name."""
    directory = Path(directory)
    return [read_voc_file(xml, directory / 'images', source=directory.name)
            for xml in sorted((directory / 'annotations').glob('*.xml'))]
