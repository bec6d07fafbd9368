#!/usr/bin/env python3
"""The container image's health check: GET http://127.0.0.1:PORT/health, exit 0 on 200.

PORT is the first argument, else INTENTCAST_PORT (the API), else 8000. A worker's container
passes its metrics port (``intentcast-healthcheck 9100``), where ``intentcast worker
--metrics-port`` serves ``/health``. Standard library only: it runs on the image's system
Python, outside intentcast's environment, and needs no curl in the image.
"""

import os
import sys
import urllib.request


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 else int(os.environ.get("INTENTCAST_PORT", "8000"))
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status = response.status
    except OSError as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
