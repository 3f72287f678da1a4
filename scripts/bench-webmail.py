#!/usr/bin/env python3
"""The webmail's first page, measured by `scripts/bench jmap` after
scripts/bench-jmap.py on the same server and seeded account: headless
Chromium (Selenium, from the tests' virtualenv; SE_OFFLINE=true) signs in
as u0@bench.test through the form, then reloads the page ROUNDS (20)
times; each round is the time on the page's own clock (performance.now(),
from navigation start) until the list shows its first 50 conversations.
Polled every 5 ms, so each figure is at most that late.

Environment: HTTP_PORT, ROUNDS (20). Prints median, 95th percentile and
max in milliseconds."""

import os
import shutil
import statistics
import tempfile
import time

os.environ["SE_OFFLINE"] = "true"

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

BASE = f"http://127.0.0.1:{int(os.environ['HTTP_PORT'])}"
ROUNDS = int(os.environ.get("ROUNDS", "20"))
ROWS = "return [document.querySelectorAll('.row').length, performance.now()]"


def first_page(d, deadline=60):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        n, at = d.execute_script(ROWS)
        if n >= 50:
            return at
        time.sleep(0.005)
    raise SystemExit("the first page did not show within 60 s")


profile = tempfile.mkdtemp(prefix="tidings-bench-chromium-")
opts = webdriver.ChromeOptions()
opts.binary_location = shutil.which("chromium")
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
            "--window-size=1280,900", f"--user-data-dir={profile}"]:
    opts.add_argument(arg)
d = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
try:
    d.get(BASE + "/")
    end = time.monotonic() + 60
    while not d.find_elements(By.NAME, "username") or not d.find_element(By.NAME, "username").is_displayed():
        if time.monotonic() > end:
            raise SystemExit("no sign-in form")
        time.sleep(0.05)
    d.find_element(By.NAME, "username").send_keys("u0@bench.test")
    d.find_element(By.NAME, "password").send_keys("pw")
    d.find_element(By.CSS_SELECTOR, "form#signin-form button[type=submit]").click()
    first_page(d)
    samples = []
    for _ in range(ROUNDS):
        d.get(BASE + "/")
        samples.append(first_page(d))
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"webmail first page (50 conversations, page clock): median {statistics.median(samples):.0f} ms, "
          f"p95 {p95:.0f} ms, max {samples[-1]:.0f} ms ({ROUNDS} reloads)")
finally:
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)
