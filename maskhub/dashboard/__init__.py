"""The Streamlit dashboard (``streamlit run streamlit_app.py``).

Data logic lives in plain modules that do not import Streamlit (runs, filters, stats, compare,
media, detect, evaluation) so it is unit-testable; ``app`` and ``views/`` are the Streamlit layer.
"""
