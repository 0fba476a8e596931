"""Table: filter, sort and download the face rows."""
import streamlit as st

from maskhub.dashboard import cache
from maskhub.dashboard.filters import LABELS, FaceFilter, face_size_bounds, sort_faces
from maskhub.dashboard.frames import FACE_SIZE, RUN
from maskhub.io.tables import PREDICTION_COLUMNS

NEEDS_RUNS = True
MAX_SHOWN_ROWS = 5000       # the browser gets this many; the download has every filtered row
SHOWN_COLUMNS = [RUN] + PREDICTION_COLUMNS + [FACE_SIZE]


def filter_controls(faces):
    cols = st.columns([3, 3, 3, 3])
    labels = cols[0].multiselect('Label', list(LABELS), default=list(LABELS), key='table_labels')
    confidence = cols[1].slider('Confidence', 0.0, 1.0, (0.0, 1.0), 0.01, key='table_confidence')
    lo, hi = face_size_bounds(faces)
    size = cols[2].slider('Face size (px, longer side)', lo, hi, (lo, hi), key='table_size_%d_%d' % (lo, hi))
    text = cols[3].text_input('Path contains', key='table_path')
    return FaceFilter(tuple(labels), tuple(confidence), tuple(size), text)


def render(ctx):
    st.title('Faces')
    faces = ctx.faces
    face_filter = filter_controls(faces)
    filtered = face_filter.apply(faces)
    cols = st.columns([3, 2, 3])
    sort_by = cols[0].selectbox('Sort by', SHOWN_COLUMNS, index=SHOWN_COLUMNS.index('confidence'), key='table_sort')
    ascending = cols[1].toggle('Ascending', value=False, key='table_ascending')
    shown = sort_faces(filtered, sort_by, ascending)
    csv = cache.filtered_csv(ctx.key, repr((face_filter, sort_by, ascending)), tuple(SHOWN_COLUMNS), shown)
    cols[2].download_button('Download %d rows (CSV)' % len(filtered), csv, file_name='faces_filtered.csv',
                            mime='text/csv', key='table_download')
    more = '; first %d shown' % MAX_SHOWN_ROWS if len(filtered) > MAX_SHOWN_ROWS else ''
    st.caption('%d of %d faces match%s' % (len(filtered), len(faces), more))
    st.dataframe(shown[SHOWN_COLUMNS].head(MAX_SHOWN_ROWS), hide_index=True, use_container_width=True,
                 column_config={'confidence': st.column_config.NumberColumn(format='%.3f'),
                                'face_score': st.column_config.NumberColumn(format='%.3f')})
