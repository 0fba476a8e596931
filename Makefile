.PHONY: setup demo test bench dashboard accuracy lite convert

setup:
	bash scripts/setup.sh

demo:
	bash scripts/run_demo.sh

test:
	bash scripts/run_tests.sh

bench: setup
	.venv/bin/python -m maskhub bench

convert: setup
	.venv/bin/python tools/convert_official_weights.py

dashboard: setup
	.venv/bin/streamlit run streamlit_app.py
