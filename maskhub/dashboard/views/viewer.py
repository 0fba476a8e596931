"""Viewer: one image at a time with its boxes and faces; a gallery of NO MASK crops linking back."""
import pandas as pd
import streamlit as st

from maskhub.dashboard import cache, media
from maskhub.dashboard.frames import FACE_SIZE, RUN

NEEDS_RUNS = True
GALLERY_PAGE = 24
GALLERY_COLUMNS = 6
FACE_DETAILS = ['id', 'label', 'confidence', 'face_score', 'left', 'top', 'right', 'bottom', 'face_width',
                'face_height']


def frame_value(frame):
    return None if frame is None or pd.isna(frame) else int(frame)


def unit_label(row):
    frame = frame_value(row['frame'])
    return row['path'] + ('' if frame is None else '  (frame %d, %.2f s)' % (frame, row['timestamp_s']))


def open_in_viewer(run, path, frame):
    """Button callback: show this image in the viewer."""
    st.session_state.update(view='Viewer', viewer_mode='Image', viewer_target=(run, path, frame),
                            viewer_no_mask_only=False, viewer_path='')


def faces_of_unit(faces, run, path, frame):
    keep = (faces[RUN] == run) & (faces['path'] == path)
    keep &= faces['frame'].isna() if frame is None else (faces['frame'] == frame)
    return faces[keep.fillna(False)]


def run_dir_of(ctx, run_name):
    run = ctx.run_by_name(run_name)
    return str(run.run_dir) if run is not None and run.run_dir is not None else None


def show_unit(ctx, run, path, frame, faces):
    try:
        unit = cache.unit_image(path, frame, run_dir_of(ctx, run))
    except media.MediaError as err:
        st.warning(str(err))
        return
    st.image(media.annotate(unit, faces), channels='BGR', use_container_width=True,
             caption='%d faces · %s' % (len(faces), unit.source))
    if unit.annotated:
        st.caption('Original not found: showing the annotated copy saved with the run.')


def step(delta, count):
    st.session_state.viewer_pos = min(max(1, st.session_state.get('viewer_pos', 1) + delta), count)


def image_view(ctx):
    cols = st.columns([2, 3])
    no_mask_only = cols[0].checkbox('Only images with NO MASK faces', key='viewer_no_mask_only')
    text = cols[1].text_input('Path contains', key='viewer_path')
    units = ctx.units
    if no_mask_only:
        units = units[units['no_mask'] > 0]
    if text.strip():
        units = units[units['path'].str.contains(text.strip(), case=False, regex=False).fillna(False)]
    units = units.reset_index(drop=True)
    if not len(units):
        st.info('No image matches.')
        return
    target = st.session_state.pop('viewer_target', None)
    if target is not None:
        run, path, frame = target
        hit = units.index[(units[RUN] == run) & (units['path'] == path) &
                          (units['frame'].isna() if frame is None else units['frame'] == frame).fillna(False)]
        if len(hit):
            st.session_state.viewer_pos = int(hit[0]) + 1
    count = len(units)
    st.session_state.viewer_pos = min(max(1, st.session_state.get('viewer_pos', 1)), count)
    cols = st.columns([1, 3, 1])
    cols[0].button('◀ Previous', on_click=step, args=(-1, count), disabled=st.session_state.viewer_pos <= 1,
                   key='viewer_prev', use_container_width=True)
    cols[1].number_input('Image (of %d)' % count, 1, count, key='viewer_pos', label_visibility='collapsed')
    cols[2].button('Next ▶', on_click=step, args=(1, count), disabled=st.session_state.viewer_pos >= count,
                   key='viewer_next', use_container_width=True)
    row = units.iloc[st.session_state.viewer_pos - 1]
    frame = frame_value(row['frame'])
    st.markdown('**%d / %d** · run `%s` · `%s`' % (st.session_state.viewer_pos, count, row[RUN], unit_label(row)))
    faces = faces_of_unit(ctx.faces, row[RUN], row['path'], frame)
    left, right = st.columns([3, 2])
    with left:
        show_unit(ctx, row[RUN], row['path'], frame, faces)
    with right:
        st.subheader('Faces')
        if len(faces):
            st.dataframe(faces[FACE_DETAILS].sort_values('id'), hide_index=True, use_container_width=True,
                         column_config={'confidence': st.column_config.NumberColumn(format='%.3f'),
                                        'face_score': st.column_config.NumberColumn(format='%.3f')})
        else:
            st.caption('No face found in this image.')


def gallery(ctx):
    no_mask = ctx.faces[ctx.faces['label'] == 'NO MASK']
    cols = st.columns([2, 2, 2])
    order = cols[0].radio('Order', ['most confident first', 'least confident first'], key='gallery_order',
                          horizontal=True)
    min_size = cols[1].number_input('Minimum face size (px)', 0, 10_000, 0, key='gallery_min_size')
    no_mask = no_mask[no_mask[FACE_SIZE] >= min_size].sort_values(
        'confidence', ascending=order.startswith('least'), kind='stable')
    if not len(no_mask):
        st.info('No NO MASK face in the selected runs.')
        return
    pages = (len(no_mask) + GALLERY_PAGE - 1) // GALLERY_PAGE
    page = cols[2].number_input('Page (of %d)' % pages, 1, pages, 1, key='gallery_page')
    st.caption('%d NO MASK faces' % len(no_mask))
    shown = no_mask.iloc[(page - 1) * GALLERY_PAGE: page * GALLERY_PAGE]
    grid = st.columns(GALLERY_COLUMNS)
    for i, (index, face) in enumerate(shown.iterrows()):
        frame = frame_value(face['frame'])
        with grid[i % GALLERY_COLUMNS]:
            box = tuple(int(face[k]) for k in media.BOX)
            try:
                st.image(cache.face_crop(face['path'], frame, run_dir_of(ctx, face[RUN]), box), channels='BGR')
            except media.MediaError:
                st.caption('(image not available)')
            name = face['path'].replace('\\', '/').rsplit('/', 1)[-1] + ('' if frame is None else ' f%d' % frame)
            st.caption('%.2f · %s' % (face['confidence'], name))
            st.button('Open image', key='gallery_open_%s' % index, on_click=open_in_viewer,
                      args=(face[RUN], face['path'], frame), use_container_width=True)


def render(ctx):
    st.title('Viewer')
    mode = st.radio('Show', ['Image', 'NO MASK gallery'], horizontal=True, key='viewer_mode',
                    label_visibility='collapsed')
    if mode == 'Image':
        image_view(ctx)
    else:
        gallery(ctx)
