"""Detect: run a model on uploaded images / a short video; the result is a run like any other."""
from pathlib import Path

import streamlit as st

from maskhub.dashboard import cache, detect, media, runs
from maskhub.dashboard.views.viewer import faces_of_unit, frame_value, open_in_viewer
from maskhub.inference.registry import MODELS, available_models

NEEDS_RUNS = False
SHOWN_RESULTS = 12


def model_choice():
    models = available_models()
    missing = [m for m in MODELS if m not in models]
    if not models:
        st.error('No model is installed in this checkout (missing: %s). Set MASKHUB_MODEL_ROOT or package the '
                 'models first.' % ', '.join(missing))
        return None
    model = st.selectbox('Model', models, key='detect_model')
    if missing:
        st.caption('Not installed here: %s' % ', '.join(missing))
    return model


def run_detection(uploads, model, shrink, threshold, fps):
    from maskhub.dashboard.app import add_detection_run, session_dir
    try:
        with st.spinner('Detecting faces in %d file(s) with %s…' % (len(uploads), model)):
            run_dir = detect.new_run_dir(session_dir())
            summary = detect.detect_uploads(cache.detector(model), [(u.name, u.getvalue()) for u in uploads],
                                            run_dir, shrink, threshold, fps)
    except detect.DetectError as err:
        st.error(str(err))
        return
    st.session_state.detect_last = add_detection_run(run_dir)
    st.session_state.detect_summary = summary
    st.session_state.detect_saved = None
    st.rerun()      # so the sidebar offers (and selects) the new run


def show_result(ctx, label):
    try:
        run = ctx.load(label)
    except (KeyError, runs.RunError) as err:
        st.error('The detection result cannot be shown: %s' % err)
        return
    summary = st.session_state.get('detect_summary', run.summary)
    st.subheader('Result: %s' % label)
    st.success('%d image(s) or video frame(s), %d faces: %d MASK, %d NO MASK%s' % (
        summary.get('images', 0), summary.get('faces', 0), summary.get('mask', 0), summary.get('no_mask', 0),
        '' if summary.get('compliance_rate') is None else ' (compliance %.0f%%)' % (100 * summary['compliance_rate'])))
    if run.errors is not None and len(run.errors):
        st.warning('Some files failed:')
        st.dataframe(run.errors, hide_index=True, use_container_width=True)
    save_controls(ctx, label, run)
    faces = ctx.faces[ctx.faces['run'] == label] if ctx.faces is not None and len(ctx.faces) else None
    units = ctx.units[ctx.units['run'] == label] if ctx.units is not None and len(ctx.units) else []
    if faces is None or not len(units):
        st.caption('Select the run in the sidebar to see it in the other views.')
        return
    n_columns = min(3, max(2, len(units)))
    grid = st.columns(n_columns)
    for i, (_, unit_row) in enumerate(units.head(SHOWN_RESULTS).iterrows()):
        frame = frame_value(unit_row['frame'])
        unit_faces = faces_of_unit(faces, label, unit_row['path'], frame)
        with grid[i % n_columns]:
            try:
                unit = cache.unit_image(unit_row['path'], frame, str(run.run_dir))
                st.image(media.annotate(unit, unit_faces), channels='BGR', use_container_width=True)
            except media.MediaError as err:
                st.warning(str(err))
            name = Path(unit_row['path']).name + ('' if frame is None else ' frame %d' % frame)
            st.caption('%s · %d faces, %d NO MASK' % (name, unit_row['faces'], unit_row['no_mask']))
            st.button('Open in viewer', key='detect_open_%d' % i, on_click=open_in_viewer,
                      args=(label, unit_row['path'], frame))
    if len(units) > SHOWN_RESULTS:
        st.caption('%d more in the Viewer.' % (len(units) - SHOWN_RESULTS))


def save_controls(ctx, label, run):
    saved = st.session_state.get('detect_saved')
    if saved:
        st.success('Saved to `%s`: it is listed with the runs in the sidebar.' % saved)
        return
    cols = st.columns([3, 1])
    name = cols[0].text_input('Save as run named', key='detect_save_name',
                              placeholder='e.g. entrance-camera-monday')
    if cols[1].button('Save run', key='detect_save', use_container_width=True):
        from maskhub.dashboard.app import replace_selected_run
        try:
            target = detect.save_run(run.run_dir, ctx.runs_dir, name)
        except detect.DetectError as err:
            st.error(str(err))
            return
        st.session_state.detect_saved = str(target)
        st.session_state.detect_last = target.name
        replace_selected_run(label, target.name)
        st.rerun()


def render(ctx):
    st.title('Detect')
    uploads = st.file_uploader('Images or a short video', type=detect.UPLOAD_TYPES, accept_multiple_files=True,
                               key='detect_files')
    cols = st.columns(4)
    with cols[0]:
        model = model_choice()
    shrink = cols[1].slider('Shrink', 0.1, 1.0, 0.5, 0.05, key='detect_shrink',
                            help='scale of the image the detector sees: larger finds smaller faces, slower')
    threshold = cols[2].slider('Face threshold', 0.05, 0.95, 0.6, 0.05, key='detect_threshold')
    fps = cols[3].number_input('Video frames per second', 0.1, 30.0, detect.DEFAULT_VIDEO_FPS, 0.5, key='detect_fps')
    if st.button('Detect', type='primary', disabled=not uploads or model is None, key='detect_run'):
        run_detection(uploads, model, shrink, threshold, fps)
    label = st.session_state.get('detect_last')
    if label:
        show_result(ctx, label)
