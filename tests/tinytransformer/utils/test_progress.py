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
