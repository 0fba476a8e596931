.PHONY: setup demo test bench dashboard browser convert

setup:
	bash scripts/setup.sh

demo:
	bash scripts/run_demo.sh

test:
	bash scripts/run_tests.sh

bench: setup
	.venv/bin/python -m maskhub bench --report

convert: setup
	.venv/bin/python tools/convert_official_weights.py --exist-ok

dashboard: setup  ## http://localhost:8501, runs from MASKHUB_RUNS_DIR (default runs/)
	.venv/bin/python -m streamlit run streamlit_app.py --browser.gatherUsageStats false

browser:  ## headless Chromium + chromedriver for the dashboard's browser test (apt; root)
	bash scripts/install_browser.sh
