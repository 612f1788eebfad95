#!/usr/bin/env python3
"""Takes the README's dashboard screenshots from `mta-sts demo --serve`, in Debian's Chromium.

Usage: python3 docs/screenshots.py [path/to/mta-sts]   (default: target/release/mta-sts)
Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's chromium, chromium-driver). Starts the
demo, logs in through the form over WebDriver (the W3C protocol, spoken here with the standard
library only), and saves docs/dashboard-*.png.
"""
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "target", "release", "mta-sts")
DRIVER_PORT = 9517


def webdriver(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{DRIVER_PORT}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["value"]


def main():
    demo = subprocess.Popen([BIN, "demo", "--serve", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    decoder = json.JSONDecoder()
    text = ""
    while True:
        line = demo.stdout.readline()
        if not line:
            sys.exit("the demo stopped before printing its login")
        text += line
        try:
            login, _ = decoder.raw_decode(text)
            break
        except ValueError:
            continue
    serve = login["serve"]
    driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={DRIVER_PORT}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                webdriver("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        session = webdriver("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,2000"]}}}})
        sid = session["sessionId"]

        def go(path):
            webdriver("POST", f"/session/{sid}/url", {"url": serve["url"].rstrip("/") + path})

        def find(css):
            element = webdriver("POST", f"/session/{sid}/element",
                                {"using": "css selector", "value": css})
            return next(iter(element.values()))

        def shoot(name):
            png = webdriver("GET", f"/session/{sid}/screenshot")
            with open(os.path.join(HERE, name), "wb") as out:
                out.write(base64.b64decode(png))
            print("saved", os.path.join("docs", name))

        go("/login")
        webdriver("POST", f"/session/{sid}/element/{find('input[name=name]')}/value",
                  {"text": serve["user"]})
        webdriver("POST", f"/session/{sid}/element/{find('input[name=password]')}/value",
                  {"text": serve["password"]})
        webdriver("POST", f"/session/{sid}/element/{find('button[type=submit]')}/click", {})
        go("/")
        shoot("dashboard-overview.png")
        go("/domains/mode-testing.test")
        shoot("dashboard-ready.png")
        go("/domains/mx-wrong-name.test")
        shoot("dashboard-failures.png")
        webdriver("DELETE", f"/session/{sid}")
    finally:
        driver.terminate()
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)


if __name__ == "__main__":
    main()
