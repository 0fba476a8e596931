"""Altair charts of the small aggregated tables from ``maskhub.dashboard.stats``."""
import altair as alt

LABEL_COLORS = alt.Scale(domain=['MASK', 'NO MASK'], range=['#1a9c3a', '#d62728'])
RATE_SCALE = alt.Scale(domain=[0, 1])
PERCENT = alt.Axis(format='%')


BAR_STEP_PX = 36          # height of one group's row in the compliance chart
INSIDE_LABEL_FROM = 0.5   # bars at least this long carry their label inside, the others just after the end
SVG = {'embedOptions': {'renderer': 'svg'}}     # text stays text: readable, selectable, testable
# the height is the bars' area; the axis comes on top (Streamlit's default 'fit' squeezes it into the height)
FIT_WIDTH = alt.AutoSizeParams(type='fit-x', contains='padding')


def compliance_chart_height(groups):
    """Height in pixels of the compliance chart's plot area: one row per group."""
    return BAR_STEP_PX * max(1, groups)


def compliance_bars(table, column, names=None):
    """One horizontal bar per group (``table`` from ``stats.compliance_by``), lowest compliance first,
    each labelled with its rate and face counts; ``names``: how the axis names the groups (default
    the ``column`` values, which the tooltip always shows)."""
    table = table.assign(group=list(names) if names is not None else table[column], bar_label=[
        '%.0f%% · %d of %d faces' % (100 * rate, mask, faces)
        for rate, mask, faces in zip(table['compliance_rate'], table['mask'], table['faces'])])
    base = alt.Chart(table).encode(
        y=alt.Y('group:N', sort=alt.EncodingSortField('compliance_rate', order='ascending'), title=None,
                scale=alt.Scale(paddingInner=0.25), axis=alt.Axis(labelLimit=360, labelFontSize=13)),
        x=alt.X('compliance_rate:Q', title='compliance rate (MASK / faces)', scale=RATE_SCALE,
                axis=alt.Axis(format='%', tickCount=10)))
    bars = base.mark_bar().encode(
        color=alt.Color('compliance_rate:Q', scale=alt.Scale(domain=[0, 0.5, 1], range=['#d62728', '#f2b701',
                                                                                       '#1a9c3a']), legend=None),
        tooltip=[alt.Tooltip('%s:N' % column, title=column), 'faces', 'mask', 'no_mask',
                 alt.Tooltip('compliance_rate:Q', format='.1%')])
    inside = base.mark_text(align='right', dx=-6, fontSize=13, color='white', fontWeight='bold').encode(
        text='bar_label:N').transform_filter(alt.datum.compliance_rate >= INSIDE_LABEL_FROM)
    outside = base.mark_text(align='left', dx=6, fontSize=13, color='#262730').encode(
        text='bar_label:N').transform_filter(alt.datum.compliance_rate < INSIDE_LABEL_FROM)
    return alt.layer(bars, inside, outside).properties(height=compliance_chart_height(len(table)), autosize=FIT_WIDTH,
                                                       usermeta=SVG)


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
