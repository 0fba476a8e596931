"""Evaluation: reports/accuracy.md with its figures, and precision-recall curves when present."""
from pathlib import Path

import altair as alt
import streamlit as st

from maskhub.dashboard.evaluation import load_evaluation
from maskhub.inference.registry import REPO_ROOT

NEEDS_RUNS = False


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
    if report.markdown is None and not report.figures and not report.pr_tables:
        st.info('No evaluation yet: `maskhub evaluate` writes %s/accuracy.md (and P-R curves).' % folder)
        return
    for problem in report.problems:
        st.warning(problem)
    if report.pr_tables:
        st.subheader('Precision-recall')
        for name, table in report.pr_tables:
            st.caption(name)
            st.altair_chart(pr_chart(table), use_container_width=True)
    if report.figures:
        cols = st.columns(min(3, len(report.figures)))
        for i, (caption, path) in enumerate(report.figures):
            cols[i % len(cols)].image(str(path), caption=caption, use_container_width=True)
    if report.markdown is not None:
        st.markdown(report.markdown)
