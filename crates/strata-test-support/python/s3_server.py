"""A throwaway S3-compatible server (moto) for strata's integration tests.

Usage: s3_server.py [--port N] [--max-lifetime SECONDS] [--parent-pid PID] BUCKET...

Serves moto's S3 on 127.0.0.1:N (N = 0 picks a free port), creates BUCKETs, prints
`READY <port>` on stdout (flushed), and then serves until the process that started it dies
(its parent pid changes) or --max-lifetime passes. Started by
tests/integration/support/s3.rs; never by hand in CI.

Requests are handled **one at a time**: moto checks `If-None-Match: *` and then stores the
object without a lock, so two concurrent conditional PUTs of the same key could both succeed,
and the put-if-absent every Delta commit relies on would silently be broken. The
serialisation is a global lock around the WSGI application (moto runs one request at a time,
body read and response built inside the lock), not a single-threaded server: a
single-threaded server blocks on a connection that was opened but carries no request yet, and
HTTP clients do open such connections (reqwest/hyper, under cancellation, left one idle and
stalled every other client for minutes before this design). Connections are accepted and
parsed by one thread each; only the application is serialised.

With STRATA_S3_SERVER_TRACE=<file>, every request is traced there: time since start, time
waited for the lock, time in moto, request line.
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

    trace_path = os.environ.get("STRATA_S3_SERVER_TRACE")
    trace = open(trace_path, "a", buffering=1) if trace_path else None

    moto_app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serialized(environ, start_response):
        """Runs moto under the global lock, to completion: the request body is read and the
        whole response body built before the lock is released."""
        arrived = time.monotonic()
        with one_at_a_time:
            entered = time.monotonic()
            result = moto_app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if trace is not None:
                now = time.monotonic()
                trace.write(
                    f"{now - started:10.3f} wait {entered - arrived:7.3f}s "
                    f"moto {now - entered:7.3f}s {environ.get('REQUEST_METHOD')} "
                    f"{environ.get('PATH_INFO')}?{environ.get('QUERY_STRING', '')}\n"
                )
        return [body]

    class QuietHandler(MotoRequestHandler):
        # One line per request would fill the stderr pipe for nothing; errors still go out.
        def log_request(self, code="-", size="-"):  # noqa: ARG002
            pass

    server = make_server(
        "127.0.0.1",
        args.port,
        serialized,
        threaded=True,
        request_handler=QuietHandler,
    )
    server.daemon_threads = True
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
