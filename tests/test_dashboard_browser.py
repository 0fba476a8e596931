"""End to end: the dashboard served on loopback, driven by headless Chromium (Selenium + chromedriver).

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_browser.sh``); skips with the
reason when they are missing. The Overview's screenshot goes to a temporary folder, or to the path in
MASKHUB_DASHBOARD_SCREENSHOT (how reports/dashboard.png is renewed on purpose).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from maskhub.cli import main as cli
from maskhub.dashboard.views.charts import compliance_chart_height

from conftest import real_images

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
AXIS_ALLOWANCE_PX = 100      # the x axis, its title and padding around the bars' rows
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--no-first-run', '--window-size=1440,1300']
WAIT_S = 180        # the first detection loads Paddle and the model on a shared 2-core machine


def browser_paths():
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    driver = shutil.which('chromedriver')
    if not chromium or not driver:
        pytest.skip('headless Chromium not installed (%s missing): run scripts/install_browser.sh'
                    % ' and '.join(n for n, p in (('chromium', chromium), ('chromedriver', driver)) if not p))
    return chromium, driver


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for_health(url, process, timeout_s=90):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError('streamlit exited with code %s' % process.returncode)
        try:
            if urllib.request.urlopen(url + '/_stcore/health', timeout=2).read() == b'ok':
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError('streamlit did not answer on %s' % url)


@pytest.fixture(scope='module')
def images(example_images):
    return real_images(example_images, 2)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory, images):
    """The two images in two folders, so the compliance chart has two bars."""
    root = tmp_path_factory.mktemp('browser_inputs')
    copies = []
    for folder, image in zip(('lobby', 'entrance'), images):
        (root / folder).mkdir()
        copies.append(Path(shutil.copy(image, root / folder / image.name)))
    return copies


@pytest.fixture(scope='module')
def screenshot(tmp_path_factory):
    return Path(os.environ.get('MASKHUB_DASHBOARD_SCREENSHOT') or tmp_path_factory.mktemp('screens') / 'dashboard.png')


@pytest.fixture(scope='module')
def server(tmp_path_factory, inputs):
    browser_paths()
    runs_dir = tmp_path_factory.mktemp('browser_runs')
    assert cli(['predict', *map(str, inputs), '--out', str(runs_dir / 'example'), '--no-progress',
                '--threads', '2']) == 0
    port = free_port()
    log = open(runs_dir.parent / 'streamlit.log', 'w')
    process = subprocess.Popen(
        [sys.executable, '-m', 'streamlit', 'run', str(REPO / 'streamlit_app.py'), '--server.headless', 'true',
         '--server.address', '127.0.0.1', '--server.port', str(port), '--browser.gatherUsageStats', 'false',
         '--server.fileWatcherType', 'none'],
        cwd=REPO, env=dict(os.environ, MASKHUB_RUNS_DIR=str(runs_dir), MASKHUB_THREADS='2'),
        stdout=log, stderr=subprocess.STDOUT)
    url = 'http://127.0.0.1:%d' % port
    try:
        wait_for_health(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope='module')
def driver(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, chromedriver = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix='maskhub-chromium-')
    options.add_argument('--user-data-dir=%s' % profile)
    browser = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(browser, condition, timeout_s=WAIT_S, what='condition'):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(browser, timeout_s, poll_frequency=0.5).until(
        lambda b: condition(b), message='timed out waiting for %s' % what)


def css(browser, selector):
    from selenium.webdriver.common.by import By
    return browser.find_elements(By.CSS_SELECTOR, selector)


def main_text(browser):
    blocks = css(browser, '[data-testid="stMain"]')
    return blocks[0].text if blocks else ''


def choose_view(browser, view):
    labels = [el for el in css(browser, '[data-testid="stSidebar"] [data-testid="stRadio"] label') if el.text == view]
    assert labels, 'no %r in the sidebar' % view
    labels[0].click()
    wait_until(browser, lambda b: any(h.text == view or h.text.startswith(view)
                                      for h in css(b, '[data-testid="stMain"] h1')), 60, 'the %s view' % view)


def compliance_chart(browser):
    """(svg height, bar heights, texts) of the Overview's first chart once it is drawn."""
    def drawn(b):
        svgs = css(b, '[data-testid="stMain"] [data-testid="stVegaLiteChart"] svg')
        return svgs[0] if svgs and svgs[0].find_elements('css selector', 'text') else None
    svg = wait_until(browser, drawn, 60, 'the compliance chart')
    texts = [t.get_attribute('textContent') for t in svg.find_elements('css selector', 'text')]
    bars = [p.rect['height'] for p in svg.find_elements('css selector', '.mark-rect path')]
    return svg.rect['height'], bars, texts


def test_overview_chart_view_image_and_detect_an_upload(server, driver, images, inputs, screenshot):
    driver.get(server)
    values = wait_until(driver, lambda b: [m.text for m in css(b, '[data-testid="stMetricValue"]')] or None,
                        what='the overview metrics')
    assert values[0] == '2'         # Images: the run holds two images

    height, bars, texts = compliance_chart(driver)
    assert len(bars) == 2 and min(bars) >= 20, bars          # one bar per folder, each readable
    assert compliance_chart_height(2) <= height <= compliance_chart_height(2) + AXIS_ALLOWANCE_PX, height
    assert {'…/lobby', '…/entrance'} <= set(texts), texts    # the folders, named
    assert len([t for t in texts if re.fullmatch(r'\d+% · \d+ of \d+ faces', t)]) == 2, texts   # and their figures
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(screenshot))

    choose_view(driver, 'Viewer')
    wait_until(driver, lambda b: css(b, '[data-testid="stMain"] [data-testid="stImage"] img'),
               what='the annotated image')
    assert min(inputs).name in main_text(driver)       # images in path order: entrance/ first

    choose_view(driver, 'Detect')
    upload = wait_until(driver, lambda b: css(b, '[data-testid="stMain"] [data-testid="stFileUploader"] '
                                                 'input[type="file"]'), what='the upload field')[0]
    upload.send_keys(str(images[1].resolve()))
    wait_until(driver, lambda b: images[1].name in main_text(b), 60, 'the uploaded file')
    button = wait_until(driver, lambda b: [el for el in css(b, '[data-testid="stMain"] button')
                                           if el.text == 'Detect' and el.is_enabled()], 60, 'the Detect button')[0]
    button.click()
    wait_until(driver, lambda b: 'Result: unsaved: detect-' in main_text(b) and
               css(b, '[data-testid="stMain"] [data-testid="stImage"] img'), what='the detection result')
    text = main_text(driver)
    assert 'faces:' in text and 'MASK' in text and 'Traceback' not in text
    selected = ' '.join(el.text for el in css(driver, '[data-testid="stSidebar"] [data-testid="stMultiSelect"]'))
    assert 'unsaved: detect-' in selected       # the result is a run the other views show
