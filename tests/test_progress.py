"""The progress bar: what it says, and that it stays quiet off a terminal."""

from __future__ import annotations

import io

from model.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_render_shows_fraction_throughput_and_eta():
    bar = ProgressBar(60_000, label="epoch 1/3 ", stream=io.StringIO(), width=10)
    text = bar.render(30_000, elapsed=2.0)
    assert text == "epoch 1/3 [#####.....]  50% 30,000/60,000 15,000 img/s ETA 00:02"
    assert bar.render(0, elapsed=0.0).endswith("0 img/s ETA 00:00")
    assert "ETA 1:00:00" in bar.render(1, elapsed=1.0 * 3600 / 59_999)


def test_draws_on_a_terminal_and_clears_on_close():
    stream = Terminal()
    bar = ProgressBar(10, stream=stream, max_rate=1e9)
    for done in range(1, 11):
        bar.update(done)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 11 and "10/10" in text and text.endswith("\r\x1b[2K")


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream)
    bar.update(5)
    bar.close()
    assert stream.getvalue() == ""
