"""A throwaway S3-compatible server (moto) for strata's integration tests.

Usage: s3_server.py [--port N] [--max-lifetime SECONDS] [--parent-pid PID] BUCKET...

Serves moto's S3 on 127.0.0.1:N (N = 0 picks a free port), creates BUCKETs, prints
`READY <port>` on stdout (flushed), and then serves until the process that started it dies
(its parent pid changes) or --max-lifetime passes. Started by
tests/integration/support/s3.rs; never by hand in CI.

Requests are handled **one at a time** (werkzeug's single-threaded server, HTTP/1.0 so every
connection closes after its response and no client can hog the loop). This matters: moto
checks `If-None-Match: *` and then stores the object without a lock, so two concurrent
conditional PUTs of the same key could both succeed on a threaded server, and the
put-if-absent that every Delta commit relies on would silently be broken.
"""

import argparse
import os
import sys
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-lifetime", type=float, default=2 * 3600)
    # The pid whose death ends the server; defaults to our parent at startup. Passing it
    # explicitly also catches a parent that died before this script got going.
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("buckets", nargs="*")
    args = parser.parse_args()

    parent = args.parent_pid if args.parent_pid is not None else os.getppid()
    started = time.monotonic()

    from werkzeug.serving import make_server

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.s3.models import s3_backends

    class QuietHandler(MotoRequestHandler):
        # One line per request would fill the stderr pipe for nothing; errors still go out.
        def log_request(self, code="-", size="-"):  # noqa: ARG002
            pass

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1",
        args.port,
        app,
        threaded=False,
        processes=1,
        request_handler=QuietHandler,
    )
    # Single-threaded werkzeug speaks HTTP/1.0 (no keep-alive); make sure of it, since a
    # kept-alive connection would block every other client of a one-at-a-time server.
    assert QuietHandler.protocol_version == "HTTP/1.0", QuietHandler.protocol_version
    port = server.server_port

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for bucket in args.buckets:
        backend.create_bucket(bucket, "us-east-1")

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()

    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            reason = "parent exited"
            break
        if time.monotonic() - started > args.max_lifetime:
            reason = f"max lifetime {args.max_lifetime:.0f}s reached"
            break
    sys.stderr.write(f"s3_server.py on port {port}: {reason}, exiting\n")
    sys.stderr.flush()
    # No clean shutdown: the state is in memory only and nobody is left to talk to.
    os._exit(0)


if __name__ == "__main__":
    main()
