"""What the Evaluation page shows: reports/accuracy.md with its figures in place, and P-R curves.

``st.markdown`` cannot show local image files, so the report is cut into markdown and figure blocks:
``![caption](figures/x.png)`` becomes a figure block where it stands, and a plain link to a local image
(``[x.png](figures/x.png)``) also gets its figure after the paragraph that links it.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ACCURACY_REPORT = 'accuracy.md'
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.svg', '.gif')
IMAGE_LINK = re.compile(r'!\[([^\]]*)\]\(([^)\s]+)[^)]*\)')
PLAIN_LINK = re.compile(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)[^)]*\)')
PR_NAME = re.compile(r'(^|[_-])(pr|precision[_-]?recall)([_-]|$)', re.IGNORECASE)


@dataclass
class Figure:
    caption: str
    path: Path


@dataclass
class EvaluationReport:
    blocks: list = field(default_factory=list)         # str (markdown) or Figure, in the report's order
    other_figures: list = field(default_factory=list)  # P-R plots in reports/ the report does not link
    pr_tables: list = field(default_factory=list)      # (name, DataFrame with precision and recall columns)
    problems: list = field(default_factory=list)

    @property
    def empty(self):
        return not (self.blocks or self.other_figures or self.pr_tables)

    @property
    def figures(self):
        return [b for b in self.blocks if isinstance(b, Figure)] + self.other_figures


def _local_image(reports, target):
    if re.match(r'^[a-z]+://', target) or not target.lower().endswith(IMAGE_SUFFIXES):
        return None
    return (reports / target).resolve()


def split_report(markdown, reports):
    """-> (blocks, problems)."""
    blocks, problems = [], []
    for paragraph in re.split(r'\n\s*\n', markdown):
        text = IMAGE_LINK.sub('', paragraph).strip()
        figures = [(caption, target) for caption, target in IMAGE_LINK.findall(paragraph)]
        figures += [(caption, target) for caption, target in PLAIN_LINK.findall(paragraph)
                    if _local_image(reports, target) is not None]
        if text:
            blocks.append(text)
        for caption, target in figures:
            path = _local_image(reports, target)
            if path is not None and path.is_file():
                blocks.append(Figure(caption or path.stem, path))
            elif path is not None:
                problems.append('figure %s linked from %s is missing' % (target, ACCURACY_REPORT))
    return blocks, problems


def load_evaluation(reports_dir):
    reports = Path(reports_dir)
    report = EvaluationReport()
    accuracy = reports / ACCURACY_REPORT
    if accuracy.is_file():
        report.blocks, report.problems = split_report(accuracy.read_text(encoding='utf-8', errors='replace'),
                                                      reports)
    shown = {f.path for f in report.figures}
    for path in sorted(p for suffix in IMAGE_SUFFIXES for p in reports.rglob('*' + suffix)):
        if PR_NAME.search(path.stem) and path.resolve() not in shown:
            report.other_figures.append(Figure(path.stem.replace('_', ' '), path.resolve()))
    for path in sorted(reports.rglob('*.csv')):
        if not PR_NAME.search(path.stem):
            continue
        try:
            table = pd.read_csv(path)
        except Exception as err:
            report.problems.append('%s is unreadable (%s)' % (path.name, type(err).__name__))
            continue
        if {'precision', 'recall'} <= set(table.columns):
            report.pr_tables.append((path.stem, table))
    return report
