#!/usr/bin/env python3
"""prejoin.py: join N distinct users to a queue and write their entryIds, one per line.

Why a helper and not curl or wrk: curl in a loop pays a process and a TCP
handshake per user (minutes for 10,000), and wrk cannot stop after exactly N
requests or report a per-request failure. This uses only the standard library
(keep-alive http.client connections, a few threads) and fails loudly: any
status other than 201/200, or a body without an entryId, aborts with exit 1, so
the poll benchmark never runs against half-made data.

Usage: prejoin.py --url http://127.0.0.1:18082 --queue bench --count 10000 --out ids.txt
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse


def worker(host, port, path, prefix, indices, results, errors):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for i in indices:
            body = json.dumps({"userId": f"{prefix}-{i}"})
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status not in (200, 201):
                errors.append(f"user {i}: HTTP {resp.status}: {data[:200]!r}")
                return
            try:
                entry_id = json.loads(data)["entryId"]
            except (ValueError, KeyError, TypeError) as err:
                errors.append(f"user {i}: no entryId in {data[:200]!r} ({err})")
                return
            results[i] = entry_id
    except (OSError, http.client.HTTPException) as err:
        errors.append(f"connection error: {err}")
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL of the queue-server")
    ap.add_argument("--queue", default="bench")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--prefix", default=f"pre{int(time.time())}",
                    help="userId prefix; the default is unique per run")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    url = urllib.parse.urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    path = f"/v1/api/queues/{urllib.parse.quote(args.queue, safe='')}/entries"
    results = [None] * args.count
    errors = []
    threads = []
    started = time.monotonic()
    for t in range(args.threads):
        indices = range(t, args.count, args.threads)
        th = threading.Thread(target=worker,
                              args=(host, port, path, args.prefix, indices, results, errors))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    if errors:
        for e in errors[:5]:
            print(f"prejoin: {e}", file=sys.stderr)
        sys.exit(1)
    missing = sum(1 for r in results if r is None)
    if missing:
        print(f"prejoin: {missing} users got no entryId", file=sys.stderr)
        sys.exit(1)
    with open(args.out, "w") as f:
        for entry_id in results:
            f.write(entry_id + "\n")
    took = time.monotonic() - started
    print(f"prejoin: {args.count} entryIds in {took:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
