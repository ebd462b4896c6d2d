"""The one progress reporter (tinytransformer.utils.Progress)."""
import io
import sys

import pytest

from tinytransformer.utils import Progress
from tinytransformer.utils import progress as progress_module


def test_plain_lines_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)      # import tqdm now fails
    stream = io.StringIO()
    with Progress(total=10, desc="train", unit="step", stream=stream, min_interval=0.0) as bar:
        for _ in range(10):
            bar.update(1, loss="1.234")
        bar.write("dev BLEU 12.0")
    text = stream.getvalue()
    assert "train: 10/10 steps" in text and "loss=1.234" in text
    assert "dev BLEU 12.0" in text


def test_disabled_bar_is_silent_but_write_still_prints(capsys):
    stream = io.StringIO()
    bar = Progress(total=3, stream=stream, enabled=False)
    bar.update(3)
    bar.write("evaluation: loss 2.0")
    bar.close()
    assert stream.getvalue() == ""
    assert capsys.readouterr().out == "evaluation: loss 2.0\n"


def test_tqdm_bar_counts_and_shows_postfix():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    bar = Progress(total=4, unit="step", stream=stream)
    assert bar._bar is not None
    bar.update(2, loss="0.5")
    bar.close()
    assert bar.n == 2 and "loss=0.5" in stream.getvalue()
    assert progress_module.Progress is Progress


def test_tqdm_rate_and_time_left_count_a_pause_once_not_as_the_current_speed():
    """200 steps of 0.1 s, a 10 s evaluation, one more step: the bar shows the
    average rate, 201 steps in 30.1 s = 6.68 step/s, and (1000 - 201) / 6.68 =
    119.6 s left, shown as 01:59. With tqdm's default smoothing it showed the
    last interval's speed, 3.10 s/step, and 41:16 left."""
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    bar = Progress(total=1000, unit="step", stream=stream)
    clock = [1000.0]
    tq = bar._bar
    tq._time = lambda: clock[0]
    tq.start_t = tq.last_print_t = clock[0]
    tq.mininterval = tq.miniters = 0
    for _ in range(200):
        clock[0] += 0.1
        bar.update(1)
    clock[0] += 10.0            # an evaluation between two steps
    clock[0] += 0.1
    bar.update(1)
    shown = str(tq)
    bar.close()
    assert "201/1000" in shown and "6.68step/s" in shown, shown
    assert "<01:59," in shown, shown
