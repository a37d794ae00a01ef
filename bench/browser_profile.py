#!/usr/bin/env python3
"""Where the studio's main thread spends its time while training: drives the built site in
headless Chromium (WebGPU on SwiftShader), loads the tiny test classifier and a small CSV,
starts training, records a CPU profile of the page through the DevTools protocol for a
few seconds after the first steps, and prints the functions with the most self and
inclusive time, plus the share of the time the main thread was idle.

Needs: pip install selenium; Debian's chromium and chromium-driver (`cargo xtask setup`
installs them); a built site (`trunk build` or `cargo xtask dist`). Run from the repo root:

  python bench/browser_profile.py [--dist dist] [--seconds 15] [--save profile.cpuprofile]

With --steps-at 10,1000 it instead measures the main thread's busy time per training step
over --window steps from each of those steps of one long run (they should be about equal:
the page's cost per step must not grow with the run's length), and prints one JSON line.

The saved profile opens in Chromium's DevTools (Performance panel, "Load profile").
"""

import argparse
import collections
import functools
import http.server
import json
import os
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

parser = argparse.ArgumentParser()
parser.add_argument("--dist", default="dist")
parser.add_argument("--seconds", type=float, default=15)
parser.add_argument("--save", help="write the raw profile (.cpuprofile) here")
parser.add_argument("--top", type=int, default=25)
parser.add_argument("--steps-at", help="comma-separated steps to measure main-thread ms per step at (e.g. 10,1000)")
parser.add_argument("--window", type=int, default=20, help="steps per --steps-at measurement")
args = parser.parse_args()

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


handler = functools.partial(Quiet, directory=os.path.abspath(args.dist))
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_address[1]}/"

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for flag in ["--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--enable-unsafe-swiftshader",
             "--disable-dev-shm-usage", "--window-size=1280,800"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def wait(script, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for: {script}")


try:
    driver.get(base)
    wait("return !!document.querySelector('#model-facts')", 600)
    fixture = os.path.join(repo, "tests/fixtures/tiny-bert-cls")
    files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    driver.find_element(By.CSS_SELECTOR, "#model-files").send_keys("\n".join(os.path.join(fixture, f) for f in files))
    wait("return document.querySelector('#model-status.ready')?.textContent.includes('4 files from this computer') === true", 120)

    driver.find_element(By.CSS_SELECTOR, "#nav-step-data").click()
    positive, negative = ["i love this", "best day ever"], ["no way", "wait what"]
    rows = ["text,label"] + [f"{(positive if i % 2 == 0 else negative)[i // 2 % 2]} {i},{'pos' if i % 2 == 0 else 'neg'}" for i in range(24)]
    data = os.path.join(tempfile.mkdtemp(), "profile.csv")
    with open(data, "w") as f:
        f.write("\n".join(rows) + "\n")
    driver.find_element(By.CSS_SELECTOR, "#data-file").send_keys(data)
    wait("return !!document.querySelector('#train-report .summary')", 60)

    driver.find_element(By.CSS_SELECTOR, "#nav-step-settings").click()
    at = [int(n) for n in args.steps_at.split(",")] if args.steps_at else []
    # 24 rows, a quarter held out, batches of 4: 5 steps per epoch.
    epochs = str(max(50, (max(at, default=0) + args.window) // 5 + 2))
    for field, value in [("setting-epochs", epochs), ("setting-batch", "4"), ("setting-max-length", "32"), ("setting-valid-split", "0.25")]:
        driver.execute_script(
            "const el = document.getElementById(arguments[0]); el.value = arguments[1]; el.dispatchEvent(new Event('input', {bubbles: true}));",
            field, value)
    wait("return document.getElementById('settings-error') === null", 10)

    driver.find_element(By.CSS_SELECTOR, "#nav-step-train").click()
    driver.execute_cdp_cmd("Profiler.enable", {})
    driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 1000})
    driver.find_element(By.CSS_SELECTOR, "#start-training").click()
    step_now = "return Number(document.getElementById('train-step').textContent.split(' / ')[0])"
    if at:
        results = {}
        for n in at:
            wait(f"{step_now} >= {n}", 7200)
            driver.execute_cdp_cmd("Profiler.start", {})
            start = driver.execute_script(step_now)
            wait(f"{step_now} >= {start + args.window}", 3600)
            profile = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
            end = driver.execute_script(step_now)
            names = {x["id"]: x["callFrame"]["functionName"] for x in profile["nodes"]}
            idle = sum(d for s_, d in zip(profile["samples"], profile["timeDeltas"]) if names[s_] == "(idle)")
            total = sum(profile["timeDeltas"])
            results[f"step_{n}"] = {"steps": end - start, "busy_ms_per_step": round((total - idle) / 1000 / (end - start), 2),
                                    "wall_ms_per_step": round(total / 1000 / (end - start), 2)}
        print(json.dumps({"main_thread_per_step": results}))
        raise SystemExit(0)
    # Past the first step (kernel compilation): the steady state is what is measured.
    wait("return Number(document.querySelector('#chart-loss svg')?.dataset.points || 0) >= 3", 600)
    driver.execute_cdp_cmd("Profiler.start", {})
    time.sleep(args.seconds)
    profile = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
    steps = driver.execute_script("return document.getElementById('train-step').textContent")
finally:
    driver.quit()
    server.shutdown()

if args.save:
    with open(args.save, "w") as f:
        json.dump(profile, f)

nodes = {n["id"]: n for n in profile["nodes"]}
parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
self_time, inclusive = collections.Counter(), collections.Counter()
for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
    frame = nodes[sample]["callFrame"]
    self_time[frame["functionName"] or frame["url"]] += delta
    seen, node = set(), sample
    while node is not None:
        name = nodes[node]["callFrame"]["functionName"]
        if name not in seen:
            inclusive[name] += delta
            seen.add(name)
        node = parent.get(node)

total = sum(profile["timeDeltas"])
idle = self_time["(idle)"]
print(json.dumps({"profiled_s": round(total / 1e6, 2), "main_thread_busy_s": round((total - idle) / 1e6, 2),
                  "idle_share": round(idle / total, 3), "train_step_at_end": steps}))
print("self time:")
for name, micros in self_time.most_common(args.top):
    print(f"  {micros / 1000:9.0f} ms  {name[:140]}")
print("inclusive time:")
for name, micros in inclusive.most_common(args.top):
    print(f"  {micros / 1000:9.0f} ms  {name[:140]}")
