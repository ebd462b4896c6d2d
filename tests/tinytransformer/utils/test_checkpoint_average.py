"""Averaging checkpoints and byte blobs (tinytransformer.utils.checkpoint), and the trainer's
step-<N>.npz files that feed the average (TrainConfig.keep_checkpoints, Trainer.average).

Every expected mean is computed here with NumPy from the weights the test itself put in
(in float64, then cast to the weight's dtype), never read back from the implementation.
"""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import tinytensor as tt
from tinytransformer import Linear
from tinytransformer.optim import Adam
from tinytransformer.utils.checkpoint import (CheckpointError, CheckpointNotFoundError,
                                              CheckpointReader, average_checkpoints,
                                              load_checkpoint, save_checkpoint)


def linear_with(weight, bias, dtype=None):
    """A Linear(in, out) holding exactly these weights (cast to `dtype` if given)."""
    weight, bias = np.asarray(weight), np.asarray(bias)
    model = Linear(weight.shape[1], weight.shape[0])
    if dtype is not None:
        model.to(dtype=dtype)
    model.load_state_dict({"weight": weight, "bias": bias})
    return model


def states(models):
    return [{name: value.copy() for name, value in m.state_dict().items()} for m in models]


def numpy_mean(arrays, dtype):
    """The element-wise mean in float64, stored as `dtype`: written out, not np.mean."""
    total = np.zeros(arrays[0].shape, dtype=np.float64)
    for a in arrays:
        total = total + a.astype(np.float64)
    return (total / len(arrays)).astype(dtype)


def model_arrays(path):
    with CheckpointReader(path) as reader:
        return {name: reader.read(name) for name in reader.names("model.")}


def all_names(path):
    with CheckpointReader(path) as reader:
        return reader.names()


# -- the mean -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_the_average_is_the_element_wise_mean_in_each_weights_dtype(tmp_path, dtype):
    rng = np.random.default_rng(5)
    models = []
    for k in range(3):
        # Different scales per checkpoint, so a sum in the weights' own dtype would round.
        weight = rng.standard_normal((3, 4)) * 10.0 ** k + 1 / 3
        bias = rng.standard_normal(3) * 10.0 ** -k
        models.append(linear_with(weight, bias, tt.float64 if dtype is np.float64 else None))
    saved = states(models)
    assert all(v.dtype == dtype for s in saved for v in s.values())
    paths = []
    for k, model in enumerate(models):
        paths.append(tmp_path / f"step-{k}.npz")
        save_checkpoint(paths[-1], model, config={"in": 4, "out": 3})

    out = tmp_path / "averaged.npz"
    assert average_checkpoints(paths, out) == 2          # weight and bias
    averaged = load_checkpoint(out)
    assert list(averaged["model_state"]) == ["weight", "bias"]
    for name in ("weight", "bias"):
        expected = numpy_mean([s[name] for s in saved], dtype)
        got = averaged["model_state"][name]
        assert got.dtype == dtype and got.shape == expected.shape
        assert_array_equal(got, expected)
        # and it is a real mean: between the smallest and the largest of the three
        stack = np.stack([s[name] for s in saved])
        assert (got >= stack.min(0) - 1e-6).all() and (got <= stack.max(0) + 1e-6).all()
    assert averaged["config"] == {"in": 4, "out": 3}
    assert averaged["extra"] == {"averaged": ["step-0.npz", "step-1.npz", "step-2.npz"]}
    assert averaged["optim_state"] is None
    # The average loads into a model like any checkpoint, and computes with the mean weights.
    fresh = Linear(4, 3)
    if dtype is np.float64:
        fresh.double()
    load_checkpoint(out, fresh)
    x = rng.standard_normal((2, 4)).astype(dtype)
    mean_w = numpy_mean([s["weight"] for s in saved], dtype)
    mean_b = numpy_mean([s["bias"] for s in saved], dtype)
    np.testing.assert_allclose(fresh(tt.tensor(x)).numpy(), x @ mean_w.T + mean_b, rtol=1e-5)


def test_float16_weights_are_averaged_in_float64_not_in_float16(tmp_path):
    # 65000 + 64000 + 63000 overflows float16 (largest 65504); their mean, 64000, does not.
    values = [65000.0, 64000.0, 63000.0]
    paths = []
    for k, v in enumerate(values):
        model = linear_with(np.full((2, 2), v), np.array([0.5 * k, -0.25 * k]), tt.float16)
        paths.append(tmp_path / f"{k}.npz")
        save_checkpoint(paths[-1], model)
    saved = [model_arrays(p) for p in paths]
    assert saved[0]["model.weight"].dtype == np.float16
    with np.errstate(over="ignore"):
        assert np.isinf(sum(s["model.weight"] for s in saved)).all()   # the naive way fails
    out = tmp_path / "mean.npz"
    average_checkpoints(paths, out)
    got = model_arrays(out)
    assert got["model.weight"].dtype == np.float16 and got["model.bias"].dtype == np.float16
    assert_array_equal(got["model.weight"], np.full((2, 2), 64000.0, dtype=np.float16))
    assert_array_equal(got["model.bias"], np.array([0.5, -0.25], dtype=np.float16))
    assert_array_equal(got["model.weight"],
                       numpy_mean([s["model.weight"] for s in saved], np.float16))


def test_one_checkpoint_averages_to_itself(tmp_path):
    model = linear_with([[0.1, 0.2], [0.3, 0.7]], [1e-8, -3.0])
    save_checkpoint(tmp_path / "a.npz", model)
    average_checkpoints([tmp_path / "a.npz"], tmp_path / "out.npz")
    for name, value in model.state_dict().items():
        assert_array_equal(model_arrays(tmp_path / "out.npz")[f"model.{name}"], value)


def test_config_and_blobs_of_the_first_are_kept_and_no_optimizer_state(tmp_path):
    config = {"model": {"d": 2}, "vocab": ["<pad>", "a"]}
    paths = []
    for k in range(3):
        tt.manual_seed(k)
        model = Linear(2, 2)
        optimizer = Adam(model.parameters(), lr=0.1)
        model(tt.randn(3, 2)).sum().backward()
        optimizer.step()                     # now the optimizer has state to save
        blobs = {"tokenizer": b"first model" if k == 0 else b"a later model",
                 **({"only-first": bytes(range(256))} if k == 0 else {})}
        paths.append(tmp_path / f"c{k}.npz")
        save_checkpoint(paths[-1], model, optimizer, config=config, extra={"step": k}, blobs=blobs)
    assert any(n.startswith("optim.state.") for n in all_names(paths[0]))

    out = tmp_path / "avg.npz"
    average_checkpoints(paths, out)
    names = all_names(out)
    assert not [n for n in names if n.startswith("optim.")]
    assert sorted(names) == sorted(["meta", "model.weight", "model.bias", "blob.tokenizer",
                                    "blob.only-first"])
    with CheckpointReader(out) as reader:
        assert reader.config == config
        assert reader.meta["optimizer"] is None
        assert reader.extra == {"averaged": ["c0.npz", "c1.npz", "c2.npz"]}
        assert reader.read_blob("tokenizer") == b"first model"
        assert reader.read_blob("only-first") == bytes(range(256))
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(out, Linear(2, 2), Adam(Linear(2, 2).parameters()))

    # An explicit extra replaces the default one.
    average_checkpoints(paths[1:], out, extra={"note": "mine", "steps": [1, 2]})
    with CheckpointReader(out) as reader:
        assert reader.extra == {"note": "mine", "steps": [1, 2]}
        assert reader.read_blob("tokenizer") == b"a later model"


# -- errors ---------------------------------------------------------------------------------
def test_no_checkpoints_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no checkpoints"):
        average_checkpoints([], tmp_path / "out.npz")
    with pytest.raises(ValueError, match="no checkpoints"):
        average_checkpoints(iter(()), tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def mismatches():
    """{case: (the second checkpoint's writer, words its error must contain)}."""
    return {
        "another config": (lambda p: save_checkpoint(p, Linear(3, 2), config={"d": 4}),
                           ["another config"]),
        "no bias": (lambda p: save_checkpoint(p, Linear(3, 2, bias=False), config={"d": 3}),
                    ["other weights"]),
        "other shape": (lambda p: save_checkpoint(p, Linear(3, 5), config={"d": 3}),
                        ["weight", "(5, 3)", "(2, 3)"]),
        "other dtype": (lambda p: save_checkpoint(p, Linear(3, 2).double(), config={"d": 3}),
                        ["weight", "float64", "float32"]),
    }


@pytest.mark.parametrize("case", ["another config", "no bias", "other shape", "other dtype"])
def test_checkpoints_that_do_not_match_are_a_checkpoint_error(tmp_path, case):
    first, second, out = tmp_path / "first.npz", tmp_path / "second.npz", tmp_path / "out.npz"
    save_checkpoint(first, Linear(3, 2), config={"d": 3})
    write, words = mismatches()[case]
    write(second)
    with pytest.raises(CheckpointError) as error:
        average_checkpoints([first, second], out)
    message = str(error.value)
    assert "second.npz" in message and "first.npz" in message, message
    for word in words:
        assert word in message, message
    assert "\n" not in message
    assert not out.exists()


def test_a_missing_or_broken_input_is_a_checkpoint_error(tmp_path):
    save_checkpoint(tmp_path / "good.npz", Linear(2, 2))
    with pytest.raises(CheckpointNotFoundError):
        average_checkpoints([tmp_path / "good.npz", tmp_path / "missing.npz"], tmp_path / "o.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(CheckpointError, match="not a valid tinytransformer checkpoint"):
        average_checkpoints([tmp_path / "good.npz", tmp_path / "junk.npz"], tmp_path / "o.npz")
    assert not (tmp_path / "o.npz").exists()


# -- blobs ----------------------------------------------------------------------------------
def test_blobs_round_trip_as_bytes(tmp_path):
    payloads = {"x": b"\x00\x01\x02\xff\xfe" * 1000 + b"\x00", "all": bytes(range(256)),
                "mutable": bytearray(b"\x10\x20\x30"), "empty": b""}
    path = tmp_path / "b.npz"
    model = linear_with([[1.0, 2.0]], [3.0])
    save_checkpoint(path, model, blobs=payloads)
    with CheckpointReader(path) as reader:
        for name, data in payloads.items():
            got = reader.read_blob(name)
            assert type(got) is bytes and got == bytes(data), name
    # Stored as documented: a plain uint8 array blob.<name>, readable without this library.
    with np.load(path, allow_pickle=False) as raw:
        assert raw["blob.x"].dtype == np.uint8
        assert raw["blob.x"].tobytes() == payloads["x"]
    # The blobs do not get in the way of loading the model.
    fresh = Linear(2, 1)
    load_checkpoint(path, fresh)
    assert_array_equal(fresh.weight.numpy(), [[1.0, 2.0]])


@pytest.mark.parametrize("blob", ["a string", 17, np.arange(3, dtype=np.uint8), [1, 2]],
                         ids=["str", "int", "ndarray", "list"])
def test_a_blob_that_is_not_bytes_is_a_type_error(tmp_path, blob):
    with pytest.raises(TypeError, match="blob 'x' must be bytes"):
        save_checkpoint(tmp_path / "b.npz", Linear(2, 2), blobs={"x": blob})
    assert not (tmp_path / "b.npz").exists()


def test_reading_a_missing_blob_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "b.npz"
    save_checkpoint(path, Linear(2, 2), blobs={"present": b"yes"})
    with CheckpointReader(path) as reader:
        with pytest.raises(CheckpointError, match="'absent'"):
            reader.read_blob("absent")
        assert reader.read_blob("present") == b"yes"


# -- the trainer's step checkpoints -------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    from tinytransformer.translation import builtin_splits
    splits = builtin_splits(0)
    return {"train": splits["train"][:200], "dev": splits["dev"][:5]}


def small_config(**changes):
    from tinytransformer.translation import TrainConfig
    options = dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, batch_tokens=300, warmup=20,
                   lr_factor=2.0, max_len=24, seed=1, steps=4, eval_every=1, keep_checkpoints=2)
    options.update(changes)
    return TrainConfig(**options)


def test_keep_checkpoints_leaves_the_newest_and_average_is_their_mean(data, tmp_path):
    from tinytransformer.translation import Trainer, Translator, RunFolderError
    from tinytransformer.translation.runs import RunFolder

    trainer = Trainer(data, small_config())
    seen = {}

    def on_eval(tr):                       # the weights at each evaluation, as the model has them
        seen[tr.state["step"]] = {n: p.numpy().copy() for n, p in tr.model.named_parameters()}

    trainer.run(tmp_path, progress=False, on_eval=on_eval)
    assert sorted(seen) == [1, 2, 3, 4]
    steps = sorted(p.name for p in tmp_path.glob("step-*.npz"))
    assert steps == ["step-0000003.npz", "step-0000004.npz"]
    # Each step file is that evaluation's weights, without optimizer state.
    for step in (3, 4):
        path = tmp_path / f"step-{step:07d}.npz"
        state = load_checkpoint(path)
        assert state["optim_state"] is None
        assert not [n for n in all_names(path) if n.startswith("optim.")]
        for name, value in seen[step].items():
            assert_array_equal(state["model_state"][name], value)
    assert any(not np.array_equal(seen[3][n], seen[4][n]) for n in seen[3])   # they differ

    out = trainer.average(tmp_path)
    assert out is not None and out.name == "averaged.npz" and out.exists()
    averaged = load_checkpoint(out)["model_state"]
    step3 = load_checkpoint(tmp_path / "step-0000003.npz")["model_state"]
    step4 = load_checkpoint(tmp_path / "step-0000004.npz")["model_state"]
    assert list(averaged) == list(step3)
    for name in step3:
        assert averaged[name].dtype == step3[name].dtype
        assert_array_equal(averaged[name], numpy_mean([step3[name], step4[name]],
                                                      step3[name].dtype))
    translator, header = Translator.load(out)
    assert header["extra"]["averaged"] == ["step-0000003.npz", "step-0000004.npz"]
    for name, p in translator.model.named_parameters():
        assert_array_equal(p.numpy(), averaged[name])
    assert isinstance(translator.translate("我有苹果。"), str)
    # average(last=1) has nothing to average; last=2 is the same files again.
    assert trainer.average(tmp_path, last=1) is None

    # The step files and the average are this run's: its id is in each ...
    runs = RunFolder(tmp_path).checkpoint_runs()
    assert set(runs) == {"last.npz", "best.npz", "averaged.npz", "step-0000003.npz",
                         "step-0000004.npz"}
    assert set(runs.values()) == {trainer.state["run_id"]}
    # ... so a new run on the folder is refused, naming them, and nothing is deleted.
    with pytest.raises(RunFolderError) as error:
        Trainer(data, small_config()).run(tmp_path, progress=False)
    message = str(error.value)
    for name in ("step-0000003.npz", "step-0000004.npz", "averaged.npz", "last.npz"):
        assert name in message, message
    assert sorted(p.name for p in tmp_path.glob("step-*.npz")) == steps
    # ... while this run, resumed, still owns them and keeps rotating them.
    resumed = Trainer.resume(tmp_path / "last.npz", data, {"steps": 5})
    resumed.run(tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("step-*.npz")) == ["step-0000004.npz",
                                                                 "step-0000005.npz"]


def test_without_two_step_files_there_is_nothing_to_average(data, tmp_path):
    from tinytransformer.translation import Trainer
    trainer = Trainer(data, small_config(steps=2, eval_every=2, keep_checkpoints=2))
    trainer.run(tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.glob("step-*.npz")) == ["step-0000002.npz"]
    assert trainer.average(tmp_path) is None
    assert not (tmp_path / "averaged.npz").exists()
    # keep_checkpoints=0 (the default) writes no step files at all
    other = tmp_path / "plain"
    Trainer(data, small_config(steps=2, eval_every=1, keep_checkpoints=0)).run(other, progress=False)
    assert not list(other.glob("step-*.npz"))
