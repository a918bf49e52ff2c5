"""gunicorn settings for digits: ``gunicorn wsgi:app`` from the repository root reads this file."""

import multiprocessing
import os

# Each worker does its own NumPy work; one BLAS thread each keeps workers from fighting over
# the cores. Set before the app (and so NumPy) is imported, which preload_app does next.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Threaded workers: a slow client or a browser's idle preconnect holds a thread, not a worker.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Load the app, and so the weights, once in the master; workers share it.
preload_app = True
timeout = 30
graceful_timeout = 10
keepalive = 5
# Access log to stdout, without the client's address.
accesslog = "-"
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
# gunicorn 27's runtime control socket is not used, and the non-root user has no home to put it in.
control_socket_disable = True
