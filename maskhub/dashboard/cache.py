"""Streamlit caches around the pure loaders: runs, tables, images and models load once per change."""
import streamlit as st

from maskhub.dashboard import frames, media, runs

# loaded runs and tables are shared, read-only objects: cache_resource avoids copying 50k rows per rerun


def version_key(run):
    """Identifies a run's current files, for the caches of comparisons and evaluations."""
    if run.run_dir is not None:
        return run.name, str(run.run_dir), runs.run_signature(run.run_dir)
    return run.name, len(run.predictions), float(run.predictions['confidence'].sum())


@st.cache_resource(max_entries=32, show_spinner='Loading run…')
def load_run(path, signature):
    return runs.load_run(path)


@st.cache_resource(max_entries=8, show_spinner=False)
def load_uploaded_predictions(file_id, name, _data):
    return runs.load_predictions_file(name, _data)


@st.cache_resource(max_entries=16, show_spinner='Preparing tables…')
def face_tables(key, _runs):
    """(faces, units) of the selected runs; ``key`` identifies ``_runs`` and their versions."""
    faces = frames.combine_runs(_runs)
    return faces, frames.units_table(faces, _runs)


@st.cache_data(max_entries=8, show_spinner='Preparing CSV…')
def filtered_csv(key, filter_key, columns, _faces):
    return _faces[list(columns)].to_csv(index=False).encode('utf-8')


@st.cache_resource(max_entries=8, show_spinner='Matching faces…')
def comparison(key, iou_threshold, _faces_a, _faces_b):
    from maskhub.dashboard.compare import compare_faces
    return compare_faces(_faces_a, _faces_b, iou_threshold)


@st.cache_data(max_entries=48, show_spinner=False)
def unit_image(path, frame, run_dir):
    return media.load_unit_image(path, frame, run_dir)


@st.cache_data(max_entries=1024, show_spinner=False)
def face_crop(path, frame, run_dir, box):
    unit = unit_image(path, frame, run_dir)
    return media.face_crop(unit, dict(zip(media.BOX, box)))


@st.cache_resource(max_entries=3, show_spinner='Loading model…')
def detector(name):
    from maskhub.inference.loader import load_detector
    return load_detector(name)


@st.cache_data(max_entries=64, show_spinner=False)
def aggregate(stat_name, key, params, _table):
    """``maskhub.dashboard.stats.<stat_name>(_table, *params)``, once per selection (``key``) and params."""
    from maskhub.dashboard import stats
    return getattr(stats, stat_name)(_table, *params)
