#!/usr/bin/env python3
"""The operations console in headless Chromium, on a live ccaas-local with moto and the BIG-IP
simulator (scripts/test.d/45-console.sh starts them and passes their addresses).

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so nothing
but the standard library is needed. Each step polls the page with a deadline; nothing sleeps
against a budget. Checks:
  - the task table shows the tasks this test submitted (one failed, one held running);
  - a task page shows a running task turning succeeded without a reload;
  - the devices view shows the open session and its owner;
  - the reports view gives each device's stable link, which opens its newest report;
  - the usage view charts the submitted tasks, and the coverage trend has the session;
  - the header's search box finds a task by a word of its name and a user filter, with the
    word marked in the snippet; the impact page lists the session that ran a pasted diff's line;
  - a second session with other traffic: its task page's "Compare with…" opens the compare
    view, which lists the lines the API's compare lists, each newly covered line linked to its
    anchor in the head report's file page (which the test opens) and each lost one to the base's;
  - no script error or failed request in the whole run; inputs are labelled, images of charts
    have names, text has 4.5:1 contrast, and the skip link is the first Tab stop.
Screenshots go to $SHOTS (console-*.png)."""
import base64
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

API = os.environ["API"]
SIM = json.loads(os.environ["SIM"])
SIM_ROOT = os.environ["SIM_ROOT"]
SHOTS = os.environ["SHOTS"]
POKE = os.environ["POKE"]
HOLD = os.path.join(SIM_ROOT, "run", "hold")
DEVICE = f"{SIM['host']}:{SIM['port']}"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def http(method, path, body=None):
    req = urllib.request.Request(API + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def submit(kind, user, name, modules=None, session=None):
    dev = {"host": SIM["host"], "port": SIM["port"], "username": SIM["username"],
           "password": SIM["password"], "host_key_sha256": SIM["host_key_sha256"]}
    data = {"device": dev, "modules": modules or SIM["modules"]}
    if session:
        data["session"] = session
    status, body = http("POST", "/v1/tasks", {"type": kind, "user": user, "name": name, "data": data})
    assert status == 202, (status, body)
    return json.loads(body)["id"]


def task(tid):
    return json.loads(http("GET", f"/v1/tasks/{tid}")[1])


def wait_task(tid, states, deadline=120):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        t = task(tid)
        if t["status"] in states:
            return t
        time.sleep(0.2)
    raise SystemExit(f"task {tid} never reached {states}: {task(tid)}")


class Chrome:
    """One headless Chromium page over the DevTools pipe (fd 3 in, fd 4 out)."""

    def __init__(self, width, height):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        prof = tempfile.mkdtemp(prefix="console-chrome.")

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--remote-debugging-pipe", f"--user-data-dir={prof}",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id = 0
        self.replies = {}
        self.cond = threading.Condition()
        self.events = queue.Queue()
        self.errors = []
        threading.Thread(target=self._read, daemon=True).start()
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.page(f"{domain}.enable")
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.from_chrome, 65536)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.cond:
                        self.replies[msg["id"]] = msg
                        self.cond.notify_all()
                else:
                    self._event(msg)

    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            self.errors.append("exception: " + json.dumps(p["exceptionDetails"])[:400])
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + json.dumps(p.get("args"))[:400])
        elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
            self.errors.append("log: " + p["entry"].get("text", "") + " " + p["entry"].get("url", ""))
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            self.errors.append(f"HTTP {p['response']['status']} {p['response']['url']}")
        # A task's log is 404 until its first device command: the console says so, and the
        # browser logs the 404 of that fetch; and a report page (the stable link's target)
        # has no favicon, which the browser asks for by itself. Every other failed request
        # counts.
        self.errors = [e for e in self.errors if not (
            e.startswith(("HTTP 404", "log: Failed to load resource: the server responded with a status of 404"))
            and ("/log" in e or e.endswith("/favicon.ico")))]

    def call(self, method, session=None, **params):
        with self.cond:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + 60
        with self.cond:
            while mid not in self.replies:
                left = end - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"chromium did not answer {method}")
                self.cond.wait(left)
            reply = self.replies.pop(mid)
        if "error" in reply:
            raise SystemExit(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, method, **params):
        return self.call(method, session=self.session, **params)

    def eval(self, expr):
        r = self.page("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"evaluating {expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url):
        self.page("Page.navigate", url=url)

    def wait(self, expr, what, deadline=60):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            v = self.eval(expr)
            if v:
                return v
            time.sleep(0.2)
        check(False, f"{what} (waited {deadline} s for: {expr[:120]})")
        return None

    def shot(self, name):
        # The whole page, not only the window.
        h = self.eval("Math.ceil(document.documentElement.scrollHeight)")
        self.page("Emulation.setDeviceMetricsOverride", width=1280, height=max(700, min(h, 4000)),
                  deviceScaleFactor=1, mobile=False)
        png = base64.b64decode(self.page("Page.captureScreenshot", format="png")["data"])
        self.page("Emulation.setDeviceMetricsOverride", width=1280, height=800,
                  deviceScaleFactor=1, mobile=False)
        path = os.path.join(SHOTS, f"console-{name}.png")
        with open(path, "wb") as f:
            f.write(png)
        check(len(png) > 20000, f"screenshot {path} ({len(png)} bytes)")

    def close(self):
        self.proc.kill()
        self.proc.wait()


# Accessibility, measured in the page: labels, chart names, contrast (WCAG 2 relative luminance).
A11Y = r"""(() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const named = el.labels && el.labels.length || el.getAttribute("aria-label");
    if (!named) bad.push("unlabelled " + el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll("svg[role=img]")) {
    if (!el.getAttribute("aria-label")) bad.push("unnamed chart");
  }
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  let checked = 0;
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg") || el.closest(".sr-only") || el.classList.contains("skip")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    checked++;
    if (ratio < 4.5) bad.push(`contrast ${ratio.toFixed(2)} on "${el.textContent.trim().slice(0, 40)}"`);
  }
  return JSON.stringify({bad, checked});
})()"""


def a11y(c, view):
    r = json.loads(c.eval(A11Y))
    check(not r["bad"] and r["checked"] > 10,
          f"{view}: {r['checked']} text elements at 4.5:1 or more, inputs labelled, charts named"
          + (f" — {r['bad'][:5]}" if r["bad"] else ""))


def main():
    console = f"{API}/site/console/"
    # A task that fails at once (a module the device does not run), then a start held
    # running: the simulator's pidof waits while the hold file exists.
    bad = submit("code-coverage-start", "bob", "smoke of a missing daemon", modules=["nosuchd"])
    wait_task(bad, ("failed",))
    open(HOLD, "w").close()
    start = submit("code-coverage-start", "alice", "nightly tmm regression")

    c = Chrome(1280, 800)
    try:
        c.goto(console + "#/tasks")
        c.wait(f"document.querySelector('tr[data-task=\"{bad}\"] [data-status=failed]') !== null",
               "the task table shows the failed task")
        c.wait(f"document.querySelector('tr[data-task=\"{start}\"] [data-status=running]') !== null",
               "the task table shows the held start running")
        row = c.eval(f"document.querySelector('tr[data-task=\"{bad}\"]').innerText")
        check("unknown_module" in row and "bob" in row and DEVICE in row,
              f"the failed row shows its user, device and error code: {row!r}")
        a11y(c, "tasks")
        c.shot("tasks")

        # Keyboard: the first Tab stop is the skip link, and it moves focus to the content.
        c.eval("document.activeElement && document.activeElement.blur(), window.scrollTo(0,0)")
        c.page("Input.dispatchKeyEvent", type="keyDown", key="Tab", code="Tab", windowsVirtualKeyCode=9)
        c.page("Input.dispatchKeyEvent", type="keyUp", key="Tab", code="Tab", windowsVirtualKeyCode=9)
        check(c.eval("document.activeElement.className") == "skip", "the first Tab stop is the skip link")
        c.page("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13, text="\r")
        c.page("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        c.wait("document.activeElement.id === 'main'", "Enter on the skip link moves focus to the content")
        check(c.eval("location.hash") == "#/tasks", "and leaves the view where it was")
        c.eval("document.activeElement.blur()")

        # The task page of the held start: running, then succeeded once released, no reload.
        c.eval(f"location.hash = '#/tasks/{start}'")
        c.wait("document.querySelector('#task [data-status=running]') !== null",
               "the task page shows the start running")
        boot = c.eval("window.ccaasConsole.boot")
        os.unlink(HOLD)
        c.wait("document.querySelector('#task [data-status=succeeded]') !== null",
               "the task page turns succeeded by itself", deadline=120)
        check(c.eval("window.ccaasConsole.boot") == boot, "without a reload")
        c.wait("document.querySelectorAll('#task table tbody tr').length > 3",
               "the task page lists the device commands")
        a11y(c, "task page")
        c.shot("task")

        c.eval("location.hash = '#/devices'")
        owner = c.wait(f"(document.querySelector('tr[data-device=\"{DEVICE}\"]') || {{}}).innerText",
                       "the devices view shows the open session")
        check(owner is not None and "alice" in owner, f"with its owner: {owner!r}")
        a11y(c, "devices")
        c.shot("devices")

        # Test traffic, then the end: a report, the stable link, usage and the trend.
        for req in (["tmm", "route", "10.0.0.1"], ["mcpd", "set", "color", "blue"]):
            subprocess.run([POKE, "--port", str(SIM["port"]), *req], check=True, stdout=subprocess.DEVNULL)
        end = submit("code-coverage-end", "alice", "nightly tmm regression (end)", session=start)
        done = wait_task(end, ("succeeded", "failed"), deadline=300)
        check(done["status"] == "succeeded", f"the end task succeeded: {done.get('error')}")
        c.eval("location.hash = '#/reports'")
        link = c.wait(f"(document.querySelector('tr[data-device=\"{DEVICE}\"] a') || {{}}).href",
                      "the reports view lists the device")
        if link:
            c.shot("reports")
            c.goto(link)
            c.wait(f"location.pathname.endsWith('/reports/{end}/index.html')",
                   "the stable link opens the device's newest report")
            c.goto(console + "#/reports")

        c.eval("location.hash = '#/usage'")
        c.wait("document.querySelectorAll('#usage svg.chart').length >= 4", "the usage view draws its charts")
        cells = c.eval("[...document.querySelectorAll('#usage table')[0].querySelectorAll('tbody tr')]"
                       ".map(r => [...r.cells].map(c => c.textContent))")
        by_user = {}
        for period, user, req, ok, failed in cells or []:
            t = by_user.setdefault(user, [0, 0, 0])
            t[0] += int(req); t[1] += int(ok); t[2] += int(failed)
        check(by_user.get("alice") == [2, 2, 0] and by_user.get("bob") == [1, 0, 1],
              f"usage counts what this test submitted (requested, succeeded, failed): {by_user}")
        a11y(c, "usage")
        c.shot("usage")

        c.eval(f"location.hash = '#/coverage?device={DEVICE}'")
        c.wait(f"document.querySelector('#coverage a[href=\"#/tasks/{end}\"]') !== null",
               "the coverage trend lists the session")
        a11y(c, "coverage")
        c.shot("coverage")

        # Search: the header's box, then the hit with its marked snippet.
        c.eval("document.getElementById('quick-q').value = 'regression user:alice', "
               "document.getElementById('quick-search').requestSubmit()")
        c.wait(f"document.querySelector('#search li[data-hit=\"{start}\"]') !== null",
               "the header's search box finds the start by a word of its name and the user filter")
        check(c.eval("[...document.querySelectorAll('#search mark')].some(m => m.textContent.toLowerCase() === 'regression')"),
              "the hit's snippet marks the matched word")
        check(c.eval(f"document.querySelector('#search li[data-hit=\"{bad}\"]') === null"),
              "bob's task is not among alice's hits")
        a11y(c, "search")
        c.shot("search")

        # Impact: a diff of the line `route 10.0.0.1` ran lists this session.
        src = open(os.path.join(SIM["build_dir"], "tmm", "tmm.c")).read().split("\n")
        n = next(i for i, l in enumerate(src, 1) if "sscanf(args, \"%u.%u.%u.%u\"" in l)
        diff = (f"--- a/tmm/tmm.c\n+++ b/tmm/tmm.c\n@@ -{n},1 +{n},1 @@\n-{src[n - 1]}\n"
                f"+{src[n - 1]} /* changed */\n")
        c.eval("location.hash = '#/impact'")
        c.wait("document.querySelector('#main textarea[name=diff]') !== null", "the impact page has its diff box")
        c.eval(f"document.querySelector('#main textarea[name=diff]').value = {json.dumps(diff)}, "
               "document.querySelector('#main form').requestSubmit()")
        c.wait(f"document.querySelector('#impact tr[data-session=\"{start}\"]') !== null",
               f"the impact page lists the session that ran tmm.c line {n}")
        a11y(c, "impact")
        c.shot("impact")

        # Compare: a second session whose traffic takes tmm's other branch and skips mcpd.
        start2 = submit("code-coverage-start", "alice", "nightly tmm external")
        check(wait_task(start2, ("succeeded", "failed"))["status"] == "succeeded", "a second start succeeded")
        subprocess.run([POKE, "--port", str(SIM["port"]), "tmm", "route", "8.8.8.8"], check=True,
                       stdout=subprocess.DEVNULL)
        end2 = submit("code-coverage-end", "alice", "nightly tmm external (end)", session=start2)
        done2 = wait_task(end2, ("succeeded", "failed"), deadline=300)
        check(done2["status"] == "succeeded", f"the second end succeeded: {done2.get('error')}")
        status, body = http("GET", f"/v1/compare?base={end}&head={end2}")
        api_cmp = json.loads(body)
        check(status == 200 and api_cmp["delta"]["newly_covered"] > 0 and api_cmp["delta"]["lost"] > 0,
              f"the API compares the two sessions: {status} {api_cmp.get('delta')}")
        c.eval(f"location.hash = '#/tasks/{end2}'")
        c.wait(f"document.querySelector('#task a[data-compare=\"{end2}\"]') !== null",
               "the second end's task page offers Compare with…")
        c.eval(f"document.querySelector('#task a[data-compare=\"{end2}\"]').click()")
        c.wait("document.querySelector('#main input[name=base]') !== null", "the compare view asks for a base")
        check(c.eval("document.querySelector('#main input[name=head]').value") == end2,
              "with the head filled in")
        c.eval(f"document.querySelector('#main input[name=base]').value = '{end}', "
               "document.querySelector('#main form').requestSubmit()")
        c.wait("document.querySelectorAll('#compare tr[data-file]').length > 0",
               "the compare view lists the changed files")
        shown = json.loads(c.eval(
            "JSON.stringify([...document.querySelectorAll('#compare tr[data-file]')].map(r => "
            "[r.dataset.file, [...r.querySelectorAll('td.new a')].map(a => +a.textContent), "
            "[...r.querySelectorAll('td.lost a')].map(a => +a.textContent)]))"))
        wanted = [[f["file"], f["newly_covered"], f["lost"]] for f in api_cmp["files"]]
        check(shown == wanted, f"it links exactly the API's newly covered and lost lines: {shown} vs {wanted}")
        delta = c.eval("document.querySelector('#compare .delta').textContent")
        check(f"{api_cmp['delta']['newly_covered']} newly covered, {api_cmp['delta']['lost']} lost" in delta,
              f"and the totals' delta: {delta!r}")
        a11y(c, "compare")
        c.shot("compare")
        new_link = c.eval("(document.querySelector('#compare td.new a') || {}).href")
        lost_link = c.eval("(document.querySelector('#compare td.lost a') || {}).href")
        check(bool(new_link) and f"/reports/{end2}/f/" in new_link, f"a newly covered line links the head report: {new_link}")
        check(bool(lost_link) and f"/reports/{end}/f/" in lost_link, f"a lost line links the base report: {lost_link}")
        for link in (new_link, lost_link):
            if not link:
                continue
            anchor = link.split("#", 1)[1]
            c.goto(link)
            c.wait(f"document.getElementById('{anchor}') !== null", f"the report page has the line's anchor {anchor}")
            c.goto(console + "#/tasks")

        # The head report's file page with the delta marked: exactly the API's lines of that
        # file, on the rows of those lines, with a banner that counts them.
        c.eval("location.hash = " + json.dumps(f"#/compare?base={end}&head={end2}"))
        c.wait("document.querySelectorAll('#compare a.delta-link').length > 0",
               "each changed file links its head report page with the delta")
        pick = json.loads(c.eval(
            "JSON.stringify([...document.querySelectorAll('#compare tr[data-file]')]"
            ".filter(r => r.querySelector('a.delta-link'))"
            ".map(r => [r.dataset.file, r.querySelector('a.delta-link').href])"
            ".sort((a, b) => b[1].length - a[1].length)[0])"))
        file, delta_link = pick
        want = next(f for f in api_cmp["files"] if f["file"] == file)
        check(f"/reports/{end2}/f/" in delta_link and "#delta:base=" + end in delta_link,
              f"the delta link opens the head report's file page: {delta_link}")
        c.goto(delta_link)
        c.wait("document.querySelector('p.delta') !== null", "the report page shows the delta banner")
        marked = json.loads(c.eval(
            "JSON.stringify([[...document.querySelectorAll('.src .dn')].map(r => +r.id.slice(1)), "
            "[...document.querySelectorAll('.src .dl')].map(r => +r.id.slice(1))])"))
        check(marked == [want["newly_covered"], want["lost"]],
              f"it marks exactly the API's newly covered and lost lines of {file}: {marked} vs {want}")
        banner = c.eval("document.querySelector('p.delta').textContent")
        check(f"{len(want['newly_covered'])} line" in banner and f"{len(want['lost'])} line" in banner and end in banner,
              f"the banner counts them against the base: {banner!r}")
        sign = c.eval("getComputedStyle(document.querySelector('.src .dn, .src .dl').firstElementChild, '::before').content")
        check(sign[:2] in ('"+', '"\u2212'), f"a marked line carries its sign, not only a colour: {sign!r}")
        a11y(c, "report-delta")
        c.shot("report-delta")
        c.eval("document.querySelector('p.delta a').click()")
        check(c.eval("document.querySelectorAll('.dn, .dl, p.delta').length") == 0,
              "Hide the delta removes every mark")
        c.goto(console + "#/tasks")

        check(not c.errors, "no script error or failed request" + (f": {c.errors[:5]}" if c.errors else ""))
    finally:
        c.close()
        if os.path.exists(HOLD):
            os.unlink(HOLD)
    if failures:
        print(f"45-console: {len(failures)} failed", flush=True)
        sys.exit(1)
    print("45-console: all passed", flush=True)


main()
