"""Compare: two runs side by side, faces matched by IoU per image / frame."""
import streamlit as st

from maskhub.dashboard import cache, compare, media

NEEDS_RUNS = False


MAX_CANDIDATES = 40     # runs looked at when choosing a comparable pair


def candidates(ctx):
    """label -> LoadedRun: the selected runs first, then the other run folders (newest first)."""
    loaded = {r.name: r for r in ctx.runs}
    for label in list(ctx.folder_runs)[:MAX_CANDIDATES]:
        if label not in loaded:
            try:
                loaded[label] = ctx.load(label)
            except Exception:       # a damaged folder is reported where it is selected, not here
                continue
    return loaded


def _set_default_pair(labels, inputs):
    """Comparable runs (same inputs) preselected the first time, and whenever a chosen run went away."""
    for key in ('compare_a', 'compare_b'):
        if st.session_state.get(key) not in labels:
            st.session_state.pop(key, None)
    if 'compare_a' not in st.session_state or 'compare_b' not in st.session_state:
        i, j = compare.default_pair([inputs[l] for l in labels])
        st.session_state.compare_a, st.session_state.compare_b = labels[i], labels[j]


def pick_runs(ctx):
    """Two runs from the runs directory, this session's detections and the uploaded tables."""
    loaded = candidates(ctx)
    labels = list(loaded)
    if len(labels) < 2:
        st.info('Comparing needs two runs: make another run of the same images (e.g. `maskhub predict ... '
                '--model server`) or upload a second predictions table.')
        return None
    inputs = {label: compare.input_paths(run) for label, run in loaded.items()}
    _set_default_pair(labels, inputs)
    cols = st.columns(3)
    label_a = cols[0].selectbox('Run A', labels, key='compare_a')
    label_b = cols[1].selectbox('Run B', labels, key='compare_b')
    iou = cols[2].slider('IoU to match', 0.1, 0.95, 0.5, 0.05, key='compare_iou')
    if label_a == label_b:
        st.warning('Pick two different runs.')
        return None
    overlap = compare.input_overlap(inputs[label_a], inputs[label_b])
    return loaded[label_a], loaded[label_b], iou, overlap, [l for l in labels if l != label_a and
                                                           compare.input_overlap(inputs[label_a], inputs[l])['same']]


def inputs_warning(run_a, run_b, overlap, same_as_a):
    """Say when A and B were not made from the same images; -> False when there is nothing to compare."""
    if overlap['same']:
        st.caption('Both runs were made from the same %d images / videos.' % overlap['both'])
        return True
    hint = (' Runs made from the same inputs as A: %s.' % ', '.join('`%s`' % l for l in same_as_a)
            if same_as_a else '')
    if not overlap['both']:
        st.warning('**%s** and **%s** were not made from the same inputs: they share no image, so there is '
                   'nothing to compare.%s' % (run_a.name, run_b.name, hint))
        return False
    st.warning('**%s** and **%s** were not made from the same inputs: %d images are in both, %d only in A, '
               '%d only in B. Only the images in both are compared.%s'
               % (run_a.name, run_b.name, overlap['both'], overlap['only_a'], overlap['only_b'], hint))
    return True


def side(run, faces, other_faces, frame, title):
    st.markdown('**%s** · `%s` · %d faces' % (title, run.name, len(faces)))
    path = (faces if len(faces) else other_faces)['path'].iloc[0]
    try:
        unit = cache.unit_image(path, frame, str(run.run_dir) if run.run_dir else None)
    except media.MediaError as err:
        st.warning(str(err))
        return
    st.image(media.annotate(unit, faces), channels='BGR', use_container_width=True)


def faces_at(faces, image, frame, by):
    keep = compare.image_keys(faces['path'], by) == image
    keep &= faces['frame'].isna() if frame is None else (faces['frame'] == frame)
    return faces[keep.fillna(False)]


def render(ctx):
    st.title('Compare runs')
    picked = pick_runs(ctx)
    if picked is None:
        return
    run_a, run_b, iou, overlap, same_as_a = picked
    if not inputs_warning(run_a, run_b, overlap, same_as_a):
        return
    faces_a, faces_b = run_a.predictions, run_b.predictions
    if not overlap['same']:
        shared = overlap['shared_keys']
        faces_a = compare.only_images(faces_a, shared, overlap['by'])
        faces_b = compare.only_images(faces_b, shared, overlap['by'])
    key = (cache.version_key(run_a), cache.version_key(run_b))
    pairs = cache.comparison(key, iou, faces_a, faces_b)
    by = pairs.attrs.get('by', 'path')
    if by == 'name':
        st.caption('The runs share no image path: images are matched by file name.')
    summary = compare.comparison_summary(pairs, faces_a, faces_b)
    cols = st.columns(6)
    for col, (title, value) in zip(cols, [('Faces in A', summary['faces_a']), ('Faces in B', summary['faces_b']),
                                          ('Matched', summary['matched']), ('Only in A', summary['only_a']),
                                          ('Only in B', summary['only_b']),
                                          ('Label disagreements', summary['label_disagreements'])]):
        col.metric(title, f'{value:,}')
    per_image = compare.per_image(pairs)
    if not len(per_image):
        st.info('Neither run has a face.')
        return
    st.subheader('Images, most differences first')
    only_differences = st.checkbox('Only images with differences', value=True, key='compare_only_diff')
    listed = per_image[per_image['differences'] > 0] if only_differences else per_image
    if not len(listed):
        st.success('The two runs agree on every face.')
        return
    st.dataframe(listed.head(1000), hide_index=True, use_container_width=True)
    options = list(range(len(listed)))
    choice = st.selectbox('Inspect', options, key='compare_pick', format_func=lambda i: '%s%s — %d differences' % (
        listed['image'].iloc[i], '' if listed['frame'].isna().iloc[i] else ' frame %d' % listed['frame'].iloc[i],
        listed['differences'].iloc[i]))
    image = listed['image'].iloc[choice]
    frame = None if listed['frame'].isna().iloc[choice] else int(listed['frame'].iloc[choice])
    here_a, here_b = faces_at(faces_a, image, frame, by), faces_at(faces_b, image, frame, by)
    left, right = st.columns(2)
    with left:
        side(run_a, here_a, here_b, frame, 'A')
    with right:
        side(run_b, here_b, here_a, frame, 'B')
    here = pairs[(pairs['image'] == image) & (pairs['frame'].isna() if frame is None else pairs['frame'] == frame)]
    st.dataframe(here.drop(columns=['image']), hide_index=True, use_container_width=True)
    disagreements = pairs[pairs['disagree']]
    if len(disagreements):
        with st.expander('All %d label disagreements' % len(disagreements)):
            st.dataframe(disagreements, hide_index=True, use_container_width=True)
