"""The learning path (examples/0*_*.py): each step runs, prints what it claims, draws its pictures.

Each step is run as a script, the way a learner runs it, with TINY_QUICK=1 (fewer
iterations) and TINY_OUT pointing into a temporary folder. The steps follow two
conventions this test relies on:

    check <what>: <value> vs <expected> <source> [ok]    a number and the hand-worked value
    wrote <path>.png                                      a picture it saved

A step is skipped only when an optional package it imports is missing (matplotlib,
the viz extra); any other failure fails the test. New steps are picked up by the glob.
"""
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEPS = sorted((ROOT / "examples").glob("0*_*.py"))
TIMEOUT_S = 120                       # per step; at quick sizes each takes a few seconds

CHECK = re.compile(r"^check (?P<what>.+?): (?P<value>\S+) vs (?P<expected>\S+) (?P<source>[^\[]+) "
                   r"\[(?P<verdict>ok|WRONG)\]$")
WROTE = re.compile(r"^wrote (?P<path>.+\.png)$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PROJECT_MODULES = {"tinytensor", "tinytransformer", "numpy"}   # required: never a reason to skip

# Values the test knows independently of the scripts, by step number: the check's label and
# its hand value. A step must print each of these checks.
HAND_VALUES = {
    "01": {"dL/dw1": -0.125, "dL/dw2": -0.25, "dL/db": -0.125,
           "dL/dw1 by finite differences": -0.125},
    "02": {"largest |d sum(softmax) / dx|": 0.0},
    "03": {"f'(2)": 10.0, "f''(2)": 12.0, "(Hv)[0] at (-1.2, 1)": 63.0, "(Hv)[1] at (-1.2, 1)": 4.0,
           "Newton after 6 steps, coordinate 0": 1.0, "Newton after 6 steps, coordinate 1": 1.0},
    "04": {"loss before training": math.log(2), "out.bias after one SGD step": 0.0025},
    "05": {"CBOW loss of one example before training": 6 * math.log(2)},   # 1 + 5 noise words
    # q = (1,1,0,0) against keys scoring 2, 0, 1, divided by sqrt(4): softmax(1, 0, 1/2)
    "06": {"weight on key 1 of the worked example": math.e / (math.e + 1 + math.sqrt(math.e)),
           "output[0] of the worked example":
               (4 * math.e + 2 * math.sqrt(math.e)) / (math.e + 1 + math.sqrt(math.e)),
           "largest |fused - composed|, output": 0.0,
           "largest |fused - composed|, gradient of q": 0.0,
           "largest |fused - composed|, gradient of k": 0.0,
           "largest |fused - composed|, gradient of v": 0.0},
    "07": {"PE[3, 4] = sin(3 / 10000^(4/64))": math.sin(3 * 10000 ** (-4 / 64)),
           "PE[5] . PE[8]": sum(math.cos(3 * 10000 ** (-2 * i / 64)) for i in range(32)),
           "largest change of the logits at positions 0-2 when the later inputs change": 0.0,
           "sentences where cached and uncached decoding differ": 0.0},
    # "The cat sat on the mat." against "The cat sat on a mat today.": p_n = 6/7, 3/6, 2/5, 1/4
    "08": {"BLEU of the worked example":
               100 * math.exp(1 - 8 / 7) * (6 / 7 * 3 / 6 * 2 / 5 * 1 / 4) ** 0.25,
           "BLEU of a perfect translation": 100.0},
}


def gradcheck_message_is_shown(stdout):
    """Step 2's point is what gradcheck says when it fails: the message must reach the learner."""
    assert "gradcheck(my_softmax): True" in stdout
    assert re.search(r"gradcheck caught the bug: gradcheck: gradient of input 0, shape \(4, 5\), "
                     r"is wrong at index .*analytic .* numeric ", stdout), stdout


def network_learns_the_moons(stdout):
    accuracy = float(re.search(r"^accuracy: (\S+)$", stdout, re.M).group(1))
    assert accuracy >= 0.95


def word_vectors_make_sense(stdout):
    """Step 5: cat's neighbours include dog, and both models answer run : ran = sell : ?
    with sold, which is not simply the nearest neighbour of sell."""
    for model in ("CBOW", "skip-gram"):
        neighbours = re.search(rf"^ *{model} +cat: (.*)$", stdout, re.M).group(1)
        assert "dog" in [item.split()[0] for item in neighbours.split(", ")[:3]], neighbours
        answer, alone = re.search(rf"^analogy \({model}\): run : ran = sell : (\S+) .*"
                                  rf"nearest to 'sell' alone: (\S+)\)$", stdout, re.M).groups()
        assert answer == "sold" and alone != "sold", (model, answer, alone)


def decoding_is_shown(stdout):
    """Step 7: the tokens printed step by step are greedy_decode's, and the cache is timed."""
    by_hand, library = re.search(r"^greedy, step by step: (\[.*\]) +greedy_decode: (\[.*\])$",
                                 stdout, re.M).groups()
    assert by_hand == library
    assert re.search(r"^  step 1: after '<s>' ", stdout, re.M), "no step-by-step decoding"
    assert re.search(r"with it \S+ s: \S+ times faster$", stdout, re.M), "no KV-cache timing"


def data_source_is_named(stdout):
    """Step 8 says whether it trained on the shared Tatoeba files or on its own sample."""
    assert re.search(r"^data: (the Tatoeba pairs in |a sample of \d+ pairs written by this step)",
                     stdout, re.M), "step 8 does not say which data it used"


# Claims a step prints in words rather than as a check line.
OTHER_CLAIMS = {"02": gradcheck_message_is_shown, "04": network_learns_the_moons,
                "05": word_vectors_make_sense, "07": decoding_is_shown,
                "08": data_source_is_named}


def run_step(script, workdir):
    python_path = [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    env = dict(os.environ, TINY_QUICK="1", TINY_OUT=str(workdir / "out"), MPLBACKEND="Agg",
               OPENBLAS_NUM_THREADS="1", PYTHONIOENCODING="utf-8",
               PYTHONPATH=os.pathsep.join(python_path))
    process = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{script.name} ran longer than {TIMEOUT_S} s\n"
                    f"{stdout[-2000:]}\n{stderr[-2000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, stdout, stderr


def missing_optional_dependency(stderr):
    """The reason to skip, if the script stopped because an optional package is missing."""
    lines = stderr.strip().splitlines()
    last = lines[-1] if lines else ""
    missing = re.match(r"ModuleNotFoundError: No module named '([\w.]+)'", last)
    if missing and missing.group(1).split(".")[0] not in PROJECT_MODULES:
        return f"needs the optional package {missing.group(1)}"
    if last.startswith("ImportError") and "tinytensor[viz]" in last:
        return "needs the viz extra: " + last
    return None


def assert_real_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert len(data) > 2000, f"{path.name} is only {len(data)} bytes"
    image = pytest.importorskip("matplotlib.image").imread(str(path))
    assert image.ndim == 3 and min(image.shape[:2]) >= 100, f"{path.name}: shape {image.shape}"
    colours = image[..., :3].reshape(-1, 3)
    spread = (colours.max(axis=0) - colours.min(axis=0)).max()
    assert spread > 0.2, f"{path.name} is one flat colour"


@pytest.mark.parametrize("script", STEPS, ids=[s.stem for s in STEPS])
def test_step_runs_and_shows_what_it_claims(script, tmp_path):
    code, stdout, stderr = run_step(script, tmp_path)
    if code != 0:
        reason = missing_optional_dependency(stderr)
        if reason:
            pytest.skip(f"{script.name} {reason}")
        pytest.fail(f"{script.name} exited {code}\n--- stdout\n{stdout[-3000:]}\n"
                    f"--- stderr\n{stderr[-3000:]}")
    lines = stdout.splitlines()

    checks = {}
    for line in lines:
        if line.startswith("check "):
            match = CHECK.match(line)
            assert match, f"a check line the test cannot read: {line!r}"
            value, expected = float(match["value"]), float(match["expected"])
            assert match["verdict"] == "ok", line
            assert abs(value - expected) <= 1e-5 * max(1.0, abs(expected)), line
            checks[match["what"]] = value
    assert checks, f"{script.name} printed no check against a hand computation"
    for what, hand in HAND_VALUES.get(script.name[:2], {}).items():
        assert what in checks, f"{script.name} no longer prints the check {what!r}"
        assert checks[what] == pytest.approx(hand, rel=1e-5, abs=1e-9), what
    if script.name[:2] in OTHER_CLAIMS:
        OTHER_CLAIMS[script.name[:2]](stdout)

    pictures = [pathlib.Path(m["path"]) for m in map(WROTE.match, lines) if m]
    assert pictures, f"{script.name} saved no picture"
    out = tmp_path / "out"
    for picture in pictures:
        picture = picture if picture.is_absolute() else tmp_path / picture
        assert picture.parent.resolve() == out.resolve(), f"{picture} is not in TINY_OUT"
        assert_real_png(picture)
