"""The dashboard's Streamlit shell: sidebar (view, runs), then the chosen view."""
import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from maskhub.dashboard import cache, runs
from maskhub.dashboard.views import compare, detect, evaluation, overview, table, viewer

VIEWS = {'Overview': overview, 'Table': table, 'Viewer': viewer, 'Compare': compare, 'Detect': detect,
         'Evaluation': evaluation}
DETECT_PREFIX = 'unsaved: '


@dataclass
class Context:
    runs_dir: Path
    folder_runs: dict                 # option label -> run folder (runs dir and this session's detections)
    runs: list = field(default_factory=list)     # the selected LoadedRuns
    faces: object = None              # their face table (maskhub.dashboard.frames)
    units: object = None              # one row per image / frame
    key: tuple = ()                   # identifies the selection for caches

    def run_by_name(self, name):
        return next((r for r in self.runs if r.name == name), None)

    def load(self, label):
        """A run by option label (selected or not) -> LoadedRun; RunError if it cannot be shown."""
        path = self.folder_runs[label]
        run = cache.load_run(str(path), runs.run_signature(path))
        return dataclasses.replace(run, name=label)     # a shallow copy: the cached run stays as loaded


def session_dir():
    if 'session_dir' not in st.session_state:
        st.session_state.session_dir = tempfile.mkdtemp(prefix='maskhub-dashboard-')
    return Path(st.session_state.session_dir)


def add_detection_run(path):
    """Called by the Detect view: offer the new run folder and select it on the next rerun."""
    label = DETECT_PREFIX + Path(path).name
    st.session_state.setdefault('detect_runs', {})[label] = str(path)
    st.session_state['select_next'] = label
    return label


def replace_selected_run(old_label, new_label):
    """Called once a detection is saved into the runs directory: show the saved copy instead."""
    st.session_state['select_next'] = new_label
    st.session_state['deselect'] = old_label


def _folder_options(runs_dir):
    options = {}
    for path in runs.list_runs(runs_dir):
        options[path.name if path != runs_dir else '(runs dir)'] = path
    for label, path in st.session_state.get('detect_runs', {}).items():
        if Path(path).exists():
            options[label] = Path(path)
    return options


def _unique(name, taken):
    out, n = name, 2
    while out in taken:
        out, n = '%s (%d)' % (name, n), n + 1
    return out


def sidebar(ctx):
    st.sidebar.title('maskhub')
    st.sidebar.radio('View', list(VIEWS), key='view')
    st.sidebar.subheader('Runs')
    st.sidebar.caption('Runs directory: `%s` (set MASKHUB_RUNS_DIR)' % ctx.runs_dir)
    options = list(ctx.folder_runs)
    pending = st.session_state.pop('select_next', None)
    dropped = st.session_state.pop('deselect', None)
    if 'selected_runs' not in st.session_state:
        st.session_state.selected_runs = options[:1]
    current = [o for o in st.session_state.selected_runs if o in options and o != dropped]
    if pending in options and pending not in current:
        current.append(pending)
    st.session_state.selected_runs = current
    selected = st.sidebar.multiselect('Prediction runs', options, key='selected_runs',
                                      help='folders written by `maskhub predict --out DIR`')
    if not options:
        st.sidebar.info('No run folders in `%s` yet: make one with `maskhub predict IMAGES --out %s/NAME`, '
                        'upload a predictions file below, or use Detect.' % (ctx.runs_dir, ctx.runs_dir))
    uploaded = st.sidebar.file_uploader('…or upload predictions (.csv / .parquet)', type=['csv', 'parquet'],
                                        accept_multiple_files=True, key='predictions_upload')
    return selected, uploaded or []


def load_selection(ctx, selected, uploaded):
    loaded, keys = [], []
    for label in selected:
        try:
            run = ctx.load(label)
        except runs.RunError as err:
            st.error('Run **%s** cannot be shown: %s' % (label, err))
            continue
        except Exception as err:        # an unforeseen damage to the files: still a message, not a traceback
            st.error('Run **%s** cannot be shown: %s: %s' % (label, type(err).__name__, err))
            continue
        loaded.append(run)
        keys.append((label, str(ctx.folder_runs[label]), runs.run_signature(ctx.folder_runs[label])))
    for upload in uploaded:
        try:
            run = cache.load_uploaded_predictions(upload.file_id, upload.name, upload.getvalue())
        except runs.RunError as err:
            st.error('Upload **%s** cannot be shown: %s' % (upload.name, err))
            continue
        run = dataclasses.replace(run, name=_unique('upload: ' + upload.name, {r.name for r in loaded}))
        loaded.append(run)
        keys.append((run.name, upload.file_id))
    for run in loaded:
        for warning in run.warnings:
            st.warning('Run **%s**: %s' % (run.name, warning))
    ctx.runs, ctx.key = loaded, tuple(keys)
    ctx.faces, ctx.units = cache.face_tables(ctx.key, loaded)


def main():
    st.set_page_config(page_title='maskhub dashboard', page_icon='😷', layout='wide')
    runs_dir = runs.runs_dir_from_env()
    ctx = Context(runs_dir, {})
    ctx.folder_runs = _folder_options(runs_dir)
    selected, uploaded = sidebar(ctx)
    view = VIEWS[st.session_state.view]
    load_selection(ctx, selected, uploaded)
    if view.NEEDS_RUNS and not ctx.runs:
        st.title(st.session_state.view)
        st.info('Select a prediction run in the sidebar (or upload a predictions file) to see it here.')
        return
    view.render(ctx)
