"""maskhub dashboard: ``streamlit run streamlit_app.py`` (runs from MASKHUB_RUNS_DIR, default runs/)."""
from maskhub.dashboard.app import main

main()
