#!/usr/bin/env python3
"""Send one socketmap request per key (read from a file, one key a line) over a few persistent
connections, one request in flight per connection, and count the replies by kind.

Used by bench/vs-postfix-mta-sts-resolver.sh to load 100,000 cached policies into the daemon's
memory tier before reading its RSS:

    python3 bench/socketmap_query.py 127.0.0.1:8463 keys.txt [--name postfix] [--connections 8]

Prints `requests=N ok=N notfound=N other=N seconds=S`; exit status 1 if a connection failed.
"""

import argparse
import asyncio
import collections
import sys
import time


async def worker(host, port, name, keys, counts):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for key in keys:
            req = f"{name} {key}".encode()
            writer.write(b"%d:%s," % (len(req), req))
            head = await reader.readuntil(b":")
            body = await reader.readexactly(int(head[:-1]) + 1)
            reply = body[:-1]
            kind = reply.split(b" ", 1)[0].decode().lower()
            counts[kind if kind in ("ok", "notfound") else "other"] += 1
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("addr", help="HOST:PORT")
    ap.add_argument("keys", help="a file of keys, one a line")
    ap.add_argument("--name", default="postfix", help="the socketmap name (zone)")
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    host, _, port = args.addr.rpartition(":")
    with open(args.keys) as f:
        keys = [line.strip() for line in f if line.strip()]
    counts = collections.Counter()
    n = args.connections
    start = time.monotonic()
    results = await asyncio.gather(
        *(worker(host, int(port), args.name, keys[i::n], counts) for i in range(n)),
        return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"requests={sum(counts.values())} ok={counts['ok']} notfound={counts['notfound']} "
          f"other={counts['other']} seconds={time.monotonic() - start:.1f}")
    for r in failed:
        print(f"connection failed: {r!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
