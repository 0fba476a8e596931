"""Overview: headline counts and the charts."""
import streamlit as st

from maskhub.dashboard import cache, stats
from maskhub.dashboard.frames import FOLDER, RUN
from maskhub.dashboard.views import charts

NEEDS_RUNS = True
MAX_GROUPS = 30


def metrics_row(metrics):
    cols = st.columns(6)
    rate = metrics['compliance_rate']
    no_face = metrics['images_with_no_face']
    cols[0].metric('Images', f"{metrics['images']:,}")
    cols[1].metric('Faces', f"{metrics['faces']:,}")
    cols[2].metric('MASK', f"{metrics['mask']:,}")
    cols[3].metric('NO MASK', f"{metrics['no_mask']:,}")
    cols[4].metric('Compliance rate', '—' if rate is None else f'{rate:.1%}')
    cols[5].metric('Images with no face', '—' if no_face is None else f'{no_face:,}',
                   help=None if no_face is not None else 'unknown for an uploaded predictions table')


def render(ctx):
    st.title('Overview')
    faces, units = ctx.faces, ctx.units
    metrics = stats.overview_metrics(faces, units, ctx.runs)
    metrics_row(metrics)
    if metrics['errors']:
        with st.expander('%d input errors' % metrics['errors']):
            for run in ctx.runs:
                if run.errors is not None and len(run.errors):
                    st.caption(run.name)
                    st.dataframe(run.errors, hide_index=True, use_container_width=True)
    if not len(faces):
        st.info('No faces in the selected runs.')
        return
    def aggregate(stat_name, table, *params):
        return cache.aggregate(stat_name, ctx.key, params, table)

    st.subheader('Compliance rate')
    group = st.radio('by', ['folder', 'run', 'model'], horizontal=True, key='overview_group')
    column = {'folder': FOLDER, 'run': RUN, 'model': 'model'}[group]
    table = aggregate('compliance_by', faces, column).head(MAX_GROUPS)
    names = stats.short_folder_names(table[column]) if column == FOLDER else None
    st.altair_chart(charts.compliance_bars(table, column, names), use_container_width=True)
    groups = int(faces[column].nunique(dropna=False))
    st.caption('Lowest compliance first%s.' % (
        '; the %d %ss with the most faces of %d shown' % (MAX_GROUPS, group, groups) if groups > MAX_GROUPS else ''))
    over_time = aggregate('compliance_over_time', faces, st.session_state.get('overview_bin_s', 1.0))
    if len(over_time):
        st.subheader('Compliance over time (video)')
        st.number_input('time bin (s)', 0.1, 600.0, 1.0, key='overview_bin_s')
        st.altair_chart(charts.compliance_over_time(over_time), use_container_width=True)
    left, middle, right = st.columns(3)
    with left:
        st.subheader('Faces per image')
        st.altair_chart(charts.faces_per_image(aggregate('faces_per_image', units)), use_container_width=True)
    with middle:
        st.subheader('Face sizes')
        st.altair_chart(charts.face_sizes(aggregate('face_size_distribution', faces)), use_container_width=True)
    with right:
        st.subheader('Confidence by label')
        st.altair_chart(charts.confidence_histogram(aggregate('confidence_histogram', faces)), use_container_width=True)
