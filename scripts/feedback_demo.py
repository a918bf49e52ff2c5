"""Teach the shipped model a handwriting it cannot read, the way a person would through the page.

    python scripts/feedback_demo.py [--data ../shared/data/mnist] [--samples 100]

Someone writes their 3s mirrored (like an epsilon: the shipped model reads them as 8 or 5). They
draw ``--samples`` of them (mirrored 3s of the MNIST training set, rendered as a canvas sends
them), post each to ``/predict`` and answer "it's a 3" through ``/api/feedback``, which stores
them in a feedback database, pending review. The script approves them, as the person reviewing
feedback would (on the review page, or ``python -m model.feedback review DB --approve-all``); then
``python -m model.train --init model/digits.npz --extra ...`` fine-tunes on MNIST plus those
samples, and the script prints how the model reads them, the mirrored 3s of the MNIST test set
(which it never saw) and MNIST's test set, before and after. Runs in a temporary folder; writes nothing else.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import cli, data, feedback, mnist, train  # noqa: E402
from model.network import DEFAULT_WEIGHTS, Network  # noqa: E402
from scripts.drawing import render_like_canvas  # noqa: E402

SHIPPED = DEFAULT_WEIGHTS
# The fine-tune: a few short epochs on part of MNIST, each feedback sample seen 10 times an epoch.
FINE_TUNE = ["--extra-repeat", "10", "--train-limit", "20000", "--validation", "2000", "--epochs", "3"]
FINE_TUNE += ["--batch-size", "128", "--eta", "0.01", "--momentum", "0.9", "--lmbda", "5", "--seed", "0"]


def give_feedback(database: Path, images: np.ndarray, label: int) -> int:
    """Draw each (28, 28) image on a canvas, post it to /predict and confirm or correct the answer
    as ``label`` through /api/feedback, storing it in ``database``. Returns how many of them the
    model read as ``label`` before."""
    from app import create_app

    # One person drawing hundreds of digits in seconds is what the rate limits are there to stop.
    client = create_app({"TESTING": True, "FEEDBACK_DB": str(database), "RATE_LIMITS": "off"}).test_client()
    rng = np.random.default_rng(0)
    right = 0
    for image in images:
        answer = client.post("/predict", data=render_like_canvas(image, rng), content_type="image/png").get_json()
        right += answer["label"] == label
        stored = client.post("/api/feedback", json={"sample": answer["sample"], "label": label})
        if stored.status_code != 201:
            raise RuntimeError(f"feedback not stored: {stored.get_json()}")
    return right


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    default = str(mnist.default_dir())
    parser.add_argument("--data", type=Path, default=Path(default), help="MNIST folder (default: $MNIST_DIR)")
    parser.add_argument("--samples", type=int, default=100, help="mirrored 3s the person draws (default 100)")
    args = parser.parse_args(argv)

    train_set, test_set = data.load(args.data)
    drawn = train_set.images[train_set.labels == 3][: args.samples, :, ::-1]
    unseen = test_set.images[test_set.labels == 3][:, :, ::-1]
    with tempfile.TemporaryDirectory() as folder:
        database, out = Path(folder) / "feedback.sqlite", Path(folder) / "mine.npz"
        read_before = give_feedback(database, drawn, 3)
        print(f"stored {len(drawn)} mirrored 3s as feedback; the shipped model read {read_before} of them as 3")
        # Only reviewed feedback trains: approve these, the drawings being what they claim to be.
        print(feedback.review_command(database, "--approve-all"))
        if feedback.main(["review", str(database), "--approve-all"]) != 0:
            return 1
        command = ["--data", str(args.data), "--init", str(SHIPPED), "--extra", str(database), *FINE_TUNE]
        print("python -m model.train " + " ".join(command) + " --out mine.npz")
        if train.main([*command, "--out", str(out)]) != 0:
            return 1
        before, after = Network.load(SHIPPED), Network.load(out)
        stored = feedback.read_samples(database).images  # the drawings as the network saw them

    def share(network: Network, images: np.ndarray) -> float:
        return float(np.mean(network.predict(data.to_columns(images)) == 3))

    X_test = data.to_columns(test_set.images)
    rows = [
        (f"the {len(stored)} mirrored 3s given as feedback, read as 3", share(before, stored), share(after, stored)),
        (f"the {len(unseen):,} mirrored 3s of the test set, read as 3", share(before, unseen), share(after, unseen)),
        (
            "MNIST test accuracy",
            before.evaluate((X_test, test_set.labels)) / len(test_set),
            after.evaluate((X_test, test_set.labels)) / len(test_set),
        ),
    ]
    print(f"\n{'':<50}{'shipped':>10}{'fine-tuned':>12}")
    for name, was, now in rows:
        print(f"{name:<50}{was:>10.2%}{now:>12.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
