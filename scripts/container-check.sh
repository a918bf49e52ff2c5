#!/usr/bin/env bash
# Build the image from the Dockerfile, run it on 127.0.0.1, wait for its HEALTHCHECK, post a digit
# to /predict and confirm it as feedback, hold slow clients against it while digits are read, check
# that it runs as a non-root user, print the image size over the base image's, and remove the
# container. Needs a Docker engine (on these machines: eval "$(../shared/tools/docker-standin)").
set -euo pipefail
cd "$(dirname "$0")/.."

image=digits:check
name=digits-check-$$
port=${PORT_ON_HOST:-18000}

# The build must print no warning of its own (the stand-in's legacy builder adds a DEPRECATED notice).
build_log=$(docker build -t "$image" . 2>&1) || { echo "$build_log" | tail -30; exit 1; }
if grep -i "warning" <<<"$build_log"; then
  echo "the image build printed a warning (above)" >&2
  exit 1
fi
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
# Without rate limits: the slow-client check below posts digits from one address as fast as it can.
docker run -d --name "$name" -p "127.0.0.1:$port:8000" -e DIGITS_RATE_LIMITS=off "$image" >/dev/null

status=starting
for _ in $(seq 60); do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$name")
  [ "$status" = healthy ] && break
  [ "$status" = unhealthy ] && break
  sleep 2
done
echo "health: $status"
[ "$status" = healthy ] || { docker logs "$name" | tail -20; exit 1; }

label=$(python3 - "$port" <<'PY'
import json, sys, urllib.request
sys.path.insert(0, ".")
from scripts.drawing import drawn_digit
request = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/predict", data=drawn_digit("7"),
                                 headers={"Content-Type": "image/png"})
with urllib.request.urlopen(request, timeout=30) as response:
    answer = json.loads(response.read())
# Confirm it: the sample is stored in the container's /data volume.
feedback = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/feedback",
                                  data=json.dumps({"sample": answer["sample"], "label": 7}).encode(),
                                  headers={"Content-Type": "application/json"})
with urllib.request.urlopen(feedback, timeout=30) as response:
    assert response.status == 201 and json.loads(response.read())["stored"] is True, "feedback not stored"
print(answer["label"])
PY
)
echo "predicted label for a drawn 7: $label (confirmed and stored as feedback)"
[ "$label" = 7 ]

# Slow clients cannot starve it (the full 256-connection, 60 s run is tests/test_slow_clients.py):
# 64 connections trickle their headers or a body a byte a second for 25 s, past the body deadline,
# while two clients read digits; exits non-zero when a /predict fails or its p99 is over 500 ms,
# or a slow client is kept past its deadline (5 s for headers, DIGITS_REQUEST_TIMEOUT for a body)
# by more than 4 s: on a loaded machine the timers of a busy worker fire late (a run with other
# work on both cores kept one 4.5 s over), and a client no deadline cut would stay all 25 s.
python3 scripts/slow_clients.py "http://127.0.0.1:$port" --connections 64 --seconds 25 --margin 4

uid=$(docker exec "$name" id -u)
echo "container user id: $uid"
[ "$uid" != 0 ]

size=$(docker image inspect -f '{{.Size}}' "$image")
base=$(docker image inspect -f '{{.Size}}' python:3.11-slim)
echo "image size over python:3.11-slim: $(( (size - base) / 1000000 )) MB"
echo "container check: ok"
