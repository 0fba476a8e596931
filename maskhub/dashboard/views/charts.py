"""Altair charts of the small aggregated tables from ``maskhub.dashboard.stats``."""
import altair as alt

LABEL_COLORS = alt.Scale(domain=['MASK', 'NO MASK'], range=['#1a9c3a', '#d62728'])
RATE_SCALE = alt.Scale(domain=[0, 1])
PERCENT = alt.Axis(format='%')


def compliance_bars(table, column):
    return alt.Chart(table).mark_bar().encode(
        x=alt.X('compliance_rate:Q', title='compliance rate', scale=RATE_SCALE, axis=PERCENT),
        y=alt.Y('%s:N' % column, sort='-x', title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=[column, 'faces', 'mask', 'no_mask', alt.Tooltip('compliance_rate:Q', format='.1%')],
    ).properties(height=max(80, 28 * len(table)))


def compliance_over_time(table):
    return alt.Chart(table).mark_line(point=True).encode(
        x=alt.X('time_s:Q', title='time (s)'),
        y=alt.Y('compliance_rate:Q', title='compliance rate', scale=RATE_SCALE, axis=PERCENT),
        color=alt.Color('path:N', title='video'),
        tooltip=['run', 'path', 'time_s', 'faces', 'mask', alt.Tooltip('compliance_rate:Q', format='.1%')])


def faces_per_image(table):
    return alt.Chart(table).mark_bar().encode(
        x=alt.X('faces:O', title='faces in the image'), y=alt.Y('images:Q', title='images'),
        tooltip=['faces', 'images'])


def face_sizes(table):
    return alt.Chart(table).mark_bar().encode(
        x=alt.X('size_px:N', sort=None, title='face size (longer side, px)'), y=alt.Y('faces:Q', stack=True),
        color=alt.Color('label:N', scale=LABEL_COLORS), tooltip=['size_px', 'label', 'faces'])


def confidence_histogram(table):
    return alt.Chart(table).mark_bar().encode(
        x=alt.X('confidence:Q', bin='binned', title='classifier confidence'), x2='confidence_end:Q',
        y=alt.Y('faces:Q', stack=None), color=alt.Color('label:N', scale=LABEL_COLORS), opacity=alt.value(0.7),
        tooltip=['label', 'confidence', 'faces'])
