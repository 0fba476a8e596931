"""Compare: two runs side by side, faces matched by IoU per image / frame."""
import streamlit as st

from maskhub.dashboard import cache, compare, media, runs

NEEDS_RUNS = False


def pick_runs(ctx):
    """Two runs from the runs directory, this session's detections and the uploaded tables."""
    choices = {label: None for label in ctx.folder_runs}
    choices.update({r.name: r for r in ctx.runs if r.name not in choices})
    labels = list(choices)
    if len(labels) < 2:
        st.info('Comparing needs two runs: make another run (e.g. `maskhub predict ... --model server`) '
                'or upload a second predictions table.')
        return None
    cols = st.columns(3)
    label_a = cols[0].selectbox('Run A', labels, index=0, key='compare_a')
    label_b = cols[1].selectbox('Run B', labels, index=1, key='compare_b')
    iou = cols[2].slider('IoU to match', 0.1, 0.95, 0.5, 0.05, key='compare_iou')
    if label_a == label_b:
        st.warning('Pick two different runs.')
        return None
    loaded = []
    for label in (label_a, label_b):
        try:
            loaded.append(choices[label] or ctx.load(label))
        except runs.RunError as err:
            st.error('Run **%s** cannot be shown: %s' % (label, err))
            return None
    return loaded[0], loaded[1], iou


def version_key(run):
    """Identifies a run's current files, for the comparison cache."""
    if run.run_dir is not None:
        return run.name, str(run.run_dir), runs.run_signature(run.run_dir)
    return run.name, len(run.predictions), float(run.predictions['confidence'].sum())


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
    run_a, run_b, iou = picked
    faces_a, faces_b = run_a.predictions, run_b.predictions
    key = (version_key(run_a), version_key(run_b))
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
