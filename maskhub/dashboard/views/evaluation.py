"""Evaluation: score a selected run against ground truth the analyst points to (VOC or WIDER)."""
import math
from pathlib import Path

import altair as alt
import streamlit as st

from maskhub.dashboard import cache, evaluation

NEEDS_RUNS = True
KINDS = {'VOC folder': evaluation.VOC, 'WIDER ground-truth file': evaluation.WIDER}


def pct(value):
    return '—' if value is None or (isinstance(value, float) and math.isnan(value)) else '%.1f%%' % value


def plural(count, noun):
    return '%d %s%s' % (count, noun, '' if count == 1 else 's')


def pr_chart(table):
    return alt.Chart(table).mark_line(point=False).encode(
        x=alt.X('recall:Q', scale=alt.Scale(domain=[0, 1])), y=alt.Y('precision:Q', scale=alt.Scale(domain=[0, 1])),
        color=alt.Color('category:N', title=None), tooltip=['category', 'recall', 'precision']).properties(height=320)


def ground_truth_controls():
    cols = st.columns([2, 5])
    kind = KINDS[cols[0].radio('Ground truth', list(KINDS), key='eval_kind')]
    if kind == evaluation.VOC:
        location = cols[1].text_input('Ground-truth folder', key='eval_voc',
                                      placeholder='folder with annotations/ (one .xml per image) and images/')
        images_root = None
    else:
        location = cols[1].text_input('Ground-truth file', key='eval_wider',
                                      placeholder='…/wider_face_val_bbx_gt.txt')
        images_root = cols[1].text_input('Images folder', key='eval_wider_images',
                                         placeholder='default: images/ beside the ground-truth file')
    return kind, location.strip(), (images_root or '').strip() or None


def show_result(result, run):
    h, m = result.headline, result.metrics
    st.caption('%s of run `%s` scored against %s (images matched by %s).'
               % (plural(result.images, 'image'), run.name, plural(m['faces'], 'ground-truth face'),
                  'path' if result.by == 'path' else 'file name'))
    if result.not_in_run:
        st.warning('%s not in the run and left out: %s'
                   % (plural(len(result.not_in_run), 'ground-truth image'), evaluation.quoted_names(result.not_in_run)))
        if run.items is None:
            st.caption('A predictions table lists only the images in which faces were found: select the run folder '
                       'instead to count the faces of images it found nothing in as missed.')
    if result.not_in_ground_truth:
        st.caption('%s of the run without ground truth here, left out.' % plural(result.not_in_ground_truth, 'image'))
    if result.lowest_score is not None:
        st.caption('The run kept faces with a face score from %.3f up: average precision covers that range.'
                   % result.lowest_score)
    cols = st.columns(4)
    cols[0].metric('Face AP@0.5', pct(h['face_ap']))
    cols[1].metric('MASK AP@0.5', pct(h['mask_ap']))
    cols[2].metric('NO MASK AP@0.5', pct(h['no_mask_ap']))
    cols[3].metric('Mean of MASK and NO MASK AP', pct(h['mask_map']))
    at = m['at_score']
    st.subheader('At face score %.2f' % at['score_threshold'])
    cols = st.columns(4)
    cols[0].metric('Recall', pct(h['recall']['all']), help='ground-truth faces found (IoU ≥ 0.5)')
    cols[1].metric('Precision', pct(h['precision']), help='detections that are a ground-truth face')
    cols[2].metric('Mask accuracy', pct(h['matched_mask_accuracy']),
                   help='label agreement on the found faces that have a mask label')
    cols[3].metric('Found faces with a label', '%d' % at['mask_accuracy']['matched_labelled'])
    left, right = st.columns(2)
    with left:
        st.markdown('**Recall by face width (px)**')
        st.dataframe(evaluation.recall_table(m), hide_index=True, use_container_width=True,
                     column_config={'recall': st.column_config.NumberColumn(format='%.3f')})
        by_attribute = evaluation.attribute_recall_table(m)
        if by_attribute is not None:
            st.markdown('**Recall by face attribute**')
            st.dataframe(by_attribute, hide_index=True, use_container_width=True,
                         column_config={'recall': st.column_config.NumberColumn(format='%.3f')})
    with right:
        st.markdown('**Precision-recall**')
        curves = evaluation.pr_table(m)
        if len(curves):
            st.altair_chart(pr_chart(curves), use_container_width=True)
    st.markdown('**Images, most missed faces first**')
    st.dataframe(result.per_image, hide_index=True, use_container_width=True)


def cache_signature(spec):
    """Changes when the ground truth's files change."""
    kind, location, _ = spec
    target = Path(location).expanduser()
    target = target / 'annotations' if kind == evaluation.VOC and (target / 'annotations').is_dir() else target
    try:
        info = target.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


@st.cache_resource(max_entries=8, show_spinner='Reading the ground truth…')
def _ground_truth(kind, location, images_root, signature):
    return evaluation.load_ground_truth(kind, location, images_root)


@st.cache_resource(max_entries=16, show_spinner='Scoring…')
def _score(key, score, _run, _samples):
    return evaluation.evaluate_run(_run, _samples, score)


def render(ctx):
    st.title('Evaluation')
    st.caption('Score a run against ground truth: average precision (pycocotools), recall by face size '
               'and mask accuracy, computed from the run\'s own face rows.')
    names = [r.name for r in ctx.runs]
    run = ctx.run_by_name(st.selectbox('Run', names, key='eval_run'))
    kind, location, images_root = ground_truth_controls()
    if st.button('Evaluate', type='primary', key='eval_go', disabled=not location):
        st.session_state.eval_spec = (kind, location, images_root)
    spec = st.session_state.get('eval_spec')
    if spec is None:
        st.info('Point to the ground truth of the images this run was made from, then press Evaluate.')
        return
    signature = cache_signature(spec)
    try:
        samples = _ground_truth(*spec, signature)
        key = (cache.version_key(run), spec, signature)
        result = _score(key, None, run, samples)
    except evaluation.GroundTruthError as err:
        st.error(str(err))
        return
    lowest = min(0.99, evaluation.default_score(result.lowest_score))
    score = st.slider('Face score for recall, precision and mask accuracy', lowest, 1.0, lowest, 0.01,
                      key='eval_score_%s_%.2f' % (run.name, lowest),
                      help='detections below it are dropped; the lowest value keeps every face of the run')
    if score > lowest:
        result = _score(key, score, run, samples)
    show_result(result, run)
