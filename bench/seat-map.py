#!/usr/bin/env python3
"""seat-map.py: what a 50,000-seat venue costs on the wire, seat list against compact seat map.

Starts the one-process runner (release build) on a scratch SQLite database, creates an event of
20 sections x 50 rows x 50 seats, and fetches GET .../seats and GET .../seat-map with no
compression, gzip and brotli: bytes on the wire and time to the last byte (median of 7). Then it
marks a random third of the seats sold, straight in the database (the map's rows are read again
within --seat-map-max-age-ms), so that the map is as fragmented as in the middle of a sale, and
measures again; last, a poll with If-None-Match (a 304). For both maps it loads the seat picker
in headless Chromium (bench/seat-map-render.mjs, through .ci/playwright.sh) and reports the time
from navigation start to the map drawn. With wrk installed, it then loads the
map as a sale's admitted fans would (wrk -t1 -c32 -d5s): conditional polls answered 304, and
gzip downloads.

    cargo build --release -p ticketon && python3 bench/seat-map.py

Env: CARGO_TARGET_DIR (where the release binary is), PORT_BASE [18180].
"""
import json, os, random, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "ticketon")
BASE = int(os.environ.get("PORT_BASE", "18180"))
ADMIN = "bench-admin-key"
SECTIONS, ROWS, PER_ROW = 20, 50, 50


def request(url, headers=None, method="GET", body=None):
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=body)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as resp:
            data = resp.read()
            headers = {k.lower(): v for k, v in resp.headers.items()}
            return resp.status, headers, data, time.perf_counter() - started
    except urllib.error.HTTPError as e:
        headers = {k.lower(): v for k, v in e.headers.items()}
        return e.code, headers, e.read(), time.perf_counter() - started


def wait_up(url):
    for _ in range(200):
        try:
            if request(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{url} never answered")


def measure(url, encoding, extra=None):
    headers = {"Accept-Encoding": encoding}
    headers.update(extra or {})
    sizes, times, status = [], [], None
    for _ in range(7):
        status, hdrs, data, elapsed = request(url, headers)
        sizes.append(len(data))
        times.append(elapsed * 1000)
    return status, statistics.median(sizes), statistics.median(times), hdrs


def table(title, api):
    print(f"\n{title}\n")
    print("| resource | encoding | status | bytes on the wire | ms (median of 7) |")
    print("|---|---|---:|---:|---:|")
    etag = None
    for name, path in [("seat list", "seats"), ("seat map", "seat-map")]:
        for encoding in ["identity", "gzip", "br"]:
            status, size, ms, hdrs = measure(f"{api}/{path}", encoding)
            etag = hdrs.get("etag", etag) if path == "seat-map" else etag
            print(f"| {name} | {encoding} | {status} | {size:,.0f} | {ms:.1f} |")
    status, size, ms, _ = measure(f"{api}/seat-map", "gzip", {"If-None-Match": etag})
    print(f"| seat map, If-None-Match | gzip | {status} | {size:,.0f} | {ms:.1f} |")


def load(url, headers):
    """wrk against url: requests/s and the 50th/99th percentile latency."""
    args = ["wrk", "-t1", "-c32", "-d5s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True).stdout
    rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec:"))
    pct = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
    return float(rps), pct.get("50%"), pct.get("99%")


def load_table(api):
    if subprocess.run(["which", "wrk"], capture_output=True).returncode != 0:
        print("\n(wrk not installed: no load figures)")
        return
    etag = request(f"{api}/seat-map")[1]["etag"]
    print("\nunder load (wrk -t1 -c32 -d5s)\n")
    print("| request | req/s | p50 | p99 |")
    print("|---|---:|---:|---:|")
    for name, headers in [("seat map, If-None-Match (304)", {"If-None-Match": etag}),
                          ("seat map, gzip (200)", {"Accept-Encoding": "gzip"})]:
        rps, p50, p99 = load(f"{api}/seat-map", headers)
        print(f"| {name} | {rps:,.0f} | {p50} | {p99} |")


def browser_tools():
    """Chromium's path and playwright-core's node_modules (from .ci/playwright.sh), or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(["bash", os.path.join(root, ".ci", "playwright.sh")],
                         capture_output=True, text=True)
    lines = out.stdout.split()
    return (lines[0], lines[1]) if out.returncode == 0 and len(lines) == 2 else None


def render(picker_url):
    """The seat picker in Chromium: time to the drawn map (bench/seat-map-render.mjs)."""
    tools = browser_tools()
    if tools is None:
        print("\n(chromium or playwright-core unavailable: no render figures)")
        return
    env = dict(os.environ, CHROMIUM=tools[0], PAGES_NODE_MODULES=tools[1])
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seat-map-render.mjs")
    subprocess.run(["node", script, picker_url], env=env, check=False)


def main():
    scratch = tempfile.mkdtemp(prefix="ticketon-seat-map-")
    db = os.path.join(scratch, "reservations.db")
    env = {
        "PATH": os.environ["PATH"],
        "RUST_LOG": "warn",
        "TICKETON_ADMIN_KEY": ADMIN,
        "TICKETON_TOKEN_SECRET": "bench-token-secret-of-32-bytes!!",
        "TICKETON_QUEUE_LISTEN": f"127.0.0.1:{BASE}",
        "TICKETON_RESERVATION_LISTEN": f"127.0.0.1:{BASE + 1}",
        "TICKETON_TOSS_SANDBOX_LISTEN": f"127.0.0.1:{BASE + 2}",
        "TICKETON_DATABASE_URL": f"sqlite://{db}",
    }
    runner = subprocess.Popen([BIN], env=env, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{BASE + 1}"
        wait_up(f"{base}/healthz")
        body = json.dumps({
            "name": "Stadium", "venue": "Seoul", "startsAt": "2030-06-01T19:00:00+09:00",
            "queueId": "stadium", "holdTtlSec": 300, "maxSeatsPerOrder": 4, "status": "on_sale",
            "sections": [{"name": f"S{i + 1}", "rows": ROWS, "seatsPerRow": PER_ROW,
                          "price": 50000 + 10000 * (i % 5)} for i in range(SECTIONS)],
        }).encode()
        status, _, data, _ = request(f"{base}/v1/api/events", {
            "X-Admin-Key": ADMIN, "Content-Type": "application/json"}, "POST", body)
        if status != 201:
            sys.exit(f"creating the event: {status} {data[:300]!r}")
        event = json.loads(data)["eventId"]
        api = f"{base}/v1/api/events/{event}"
        table(f"{SECTIONS * ROWS * PER_ROW:,} seats, all available", api)
        render(f"{base}/events/{event}")
        with sqlite3.connect(db) as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM seats WHERE event_id = ?", (event,))]
            sold = random.Random(7).sample(ids, len(ids) // 3)
            conn.executemany("UPDATE seats SET status = 'sold' WHERE id = ?", [(i,) for i in sold])
        time.sleep(0.5)
        table("a random third sold (the most fragmented a map gets)", api)
        render(f"{base}/events/{event}")
        load_table(api)
    finally:
        runner.terminate()
        runner.wait()


if __name__ == "__main__":
    main()
