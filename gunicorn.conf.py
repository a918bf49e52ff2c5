"""gunicorn settings for digits: ``gunicorn wsgi:app`` from the repository root reads this file.

gevent workers: each connection is a greenlet, so a client that sends its request a byte a second
holds a few kilobytes of one worker, never a thread or the worker itself. What one such client may
take is bounded twice: its headers within ``keepalive`` seconds (gunicorn reads them under a
gevent timeout of that length) and its body within ``DIGITS_REQUEST_TIMEOUT`` seconds after them
(``app.inputs.BodyDeadline``, a 408); either way the connection is closed.
"""

# First, before anything imports socket, threading or time: preload_app below imports the app (and
# with it NumPy, sqlite3 and threading) in the master, and gunicorn's gevent worker would patch the
# standard library only after the fork, too late for what was imported already. gevent's advice is
# to patch as early as possible; forked workers inherit the patched modules.
from gevent import monkey

monkey.patch_all()

import multiprocessing  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402

# Each worker does its own NumPy work; one BLAS thread each keeps workers from fighting over
# the cores. Set before the app (and so NumPy) is imported, which preload_app does next.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# GET /metrics adds up every worker's counts (app/prometheus.py): prometheus-client keeps each process's
# in files in this folder, named before anything imports it (preload_app, below). Unless given one,
# each run gets a new folder, so no count outlives its server (a restarted container keeps /tmp); the
# app makes it when it starts (not this file: `gunicorn --print-config` reads it too), and on_exit
# removes it. A folder of your own must start empty each run. Which folder this server made is kept in
# the environment too: a HUP makes gunicorn read this file again, when the folder is already set.
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_MADE_METRICS_DIR = "GUNICORN_DIGITS_MADE_METRICS_DIR"
if not os.environ.get(_METRICS_DIR):
    os.environ[_METRICS_DIR] = os.environ[_MADE_METRICS_DIR] = os.path.join(
        tempfile.gettempdir(), f"digits-metrics-{uuid.uuid4().hex}"
    )

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
# Connections one worker holds at once (gunicorn's default, written out): past it the worker
# stops accepting and new connections wait in the listen backlog. Each slow client holds one for
# at most keepalive + DIGITS_REQUEST_TIMEOUT seconds.
worker_connections = 1000
# Load the app, and so the weights, once in the master; workers share it.
preload_app = True
# A worker that has not reported to the master for this long (a request computing that long
# would block its event loop) is restarted.
timeout = 30
graceful_timeout = 10
# Seconds an idle keep-alive connection stays open, and, under the gevent worker, the most a
# request's headers may take to arrive (the header deadline the README documents).
keepalive = 5
# Access log to stdout, without the client's address.
accesslog = "-"
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# gunicorn 27's runtime control socket is not used, and the non-root user has no home to put it in.
control_socket_disable = True


def child_exit(server, worker):
    """A worker has gone: its live gauges no longer count (its counters still do)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """The server stops: the metrics folder it made goes with it."""
    made = os.environ.get(_MADE_METRICS_DIR)
    if made:
        shutil.rmtree(made, ignore_errors=True)
