"""Evaluation: reports/accuracy.md with its figures, and precision-recall curves when present."""
from pathlib import Path

import altair as alt
import streamlit as st

from maskhub.dashboard.evaluation import Figure, load_evaluation
from maskhub.inference.registry import REPO_ROOT

NEEDS_RUNS = False
FIGURE_WIDTH = 520


def reports_dir():
    local = Path('reports')
    return local if local.is_dir() else REPO_ROOT / 'reports'


def pr_chart(table):
    color = next((c for c in ('label', 'class', 'model', 'run', 'name') if c in table.columns), None)
    chart = alt.Chart(table).mark_line().encode(
        x=alt.X('recall:Q', scale=alt.Scale(domain=[0, 1])), y=alt.Y('precision:Q', scale=alt.Scale(domain=[0, 1])))
    return chart.encode(color='%s:N' % color) if color else chart


def render(ctx):
    st.title('Evaluation')
    folder = reports_dir()
    report = load_evaluation(folder)
    if report.empty:
        st.info('No evaluation yet: `python -m maskhub.evaluation.report` writes %s/accuracy.md '
                '(and its P-R curves).' % folder)
        return
    for problem in report.problems:
        st.warning(problem)
    for name, table in report.pr_tables:
        st.subheader('Precision-recall: %s' % name)
        st.altair_chart(pr_chart(table), use_container_width=True)
    for block in report.blocks:
        if isinstance(block, Figure):
            st.image(str(block.path), caption=block.caption, width=FIGURE_WIDTH)
        else:
            st.markdown(block)
    if report.other_figures:
        st.subheader('Other precision-recall figures')
        cols = st.columns(2)
        for i, figure in enumerate(report.other_figures):
            cols[i % 2].image(str(figure.path), caption=figure.caption, use_container_width=True)
