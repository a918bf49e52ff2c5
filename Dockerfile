# digits: the drawing page and API, served by gunicorn.
#   docker build -t digits . && docker run --rm -p 8000:8000 digits
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PORT=8000

WORKDIR /app

# The runtime lock only (never the trainer's or the tests'), hashes checked, in its own layer so
# code changes do not reinstall it.
COPY requirements.txt .
RUN pip install --no-compile --require-hashes -r requirements.txt \
    # A fixed, unprivileged uid outside the system range (useradd --system would warn about it).
    && useradd --no-create-home --no-log-init --shell /usr/sbin/nologin --uid 10001 digits \
    && mkdir /data && chown digits /data

# Feedback samples go to /data, the one folder the app writes: mount a volume there to keep them
# (docker run -v digits-feedback:/data ...). Set DIGITS_SECRET_KEY to keep sample tokens valid
# across restarts.
ENV DIGITS_FEEDBACK_DB=/data/feedback.sqlite
VOLUME ["/data"]

# The code and the shipped weights (.dockerignore keeps tests, data, figures and history out).
COPY app/ app/
COPY model/ model/
COPY templates/ templates/
COPY static/ static/
# pyproject.toml: the project's version, which the OpenAPI document gives.
COPY wsgi.py gunicorn.conf.py pyproject.toml ./

USER digits
EXPOSE 8000

# Python's own urllib: no curl or wget needed in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=4)"]

CMD ["gunicorn", "wsgi:app"]
