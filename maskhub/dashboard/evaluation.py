"""What the Evaluation page shows: reports/accuracy.md, its figures, and precision-recall curves."""
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ACCURACY_REPORT = 'accuracy.md'
IMAGE_LINK = re.compile(r'!\[([^\]]*)\]\(([^)\s]+)[^)]*\)')
PR_NAME = re.compile(r'(^|[_-])(pr|precision[_-]?recall)([_-]|$)', re.IGNORECASE)


@dataclass
class EvaluationReport:
    markdown: str = None
    figures: list = field(default_factory=list)        # (caption, Path) of images the report links or P-R plots
    pr_tables: list = field(default_factory=list)      # (name, DataFrame with precision and recall columns)
    problems: list = field(default_factory=list)


def split_markdown(markdown):
    """Markdown with the image links taken out (st.markdown cannot show local files), and those links."""
    links = IMAGE_LINK.findall(markdown)
    return IMAGE_LINK.sub('', markdown), links


def load_evaluation(reports_dir):
    reports = Path(reports_dir)
    report = EvaluationReport()
    accuracy = reports / ACCURACY_REPORT
    figures = []
    if accuracy.is_file():
        text = accuracy.read_text(encoding='utf-8', errors='replace')
        report.markdown, links = split_markdown(text)
        for caption, target in links:
            path = (reports / target).resolve()
            if path.is_file():
                figures.append((caption or path.stem, path))
            else:
                report.problems.append('figure %s linked from %s is missing' % (target, ACCURACY_REPORT))
    for path in sorted(reports.glob('*.png')) + sorted(reports.glob('*.svg')):
        if PR_NAME.search(path.stem) and path.resolve() not in {p for _, p in figures}:
            figures.append((path.stem.replace('_', ' '), path.resolve()))
    report.figures = figures
    for path in sorted(reports.glob('*.csv')):
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
