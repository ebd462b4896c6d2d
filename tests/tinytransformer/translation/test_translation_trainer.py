"""The translator and its trainer: training, checkpoints, resume, what a run checks first."""
import dataclasses

import numpy as np
import pytest

from tinytransformer.translation import (TrainConfig, Trainer, TrainingError, Translator,
                                         builtin_splits)
from translation_processes import load_example

OPTIONS = TrainConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.1, batch_tokens=300,
                      warmup=20, lr_factor=2.0, label_smoothing=0.1, clip=1.0, steps=6,
                      eval_every=100, min_freq=1, seed=3, device="cpu", max_len=40)


@pytest.fixture(scope="module")
def data():
    splits = builtin_splits(0)
    return {"train": splits["train"][:300], "dev": splits["dev"][:20], "test": splits["test"][:20]}


def parameters(trainer):
    return {name: p.numpy().copy() for name, p in trainer.model.named_parameters()}


def test_a_tiny_model_trains_and_its_loss_falls(data):
    trainer = Trainer(data, OPTIONS.replace(steps=40))
    batches = trainer.epoch_batches(0)
    first = np.mean([trainer.train_step(*b) for b in batches[:3]])
    for src, tgt in batches[3:] + trainer.epoch_batches(1):
        last = trainer.train_step(src, tgt)
    assert last < first - 0.5, (first, last)


def test_resume_gives_the_same_result_as_an_uninterrupted_run(data, tmp_path):
    straight = Trainer(data, OPTIONS.replace(steps=8))
    straight.run(tmp_path / "straight", progress=False)

    first_half = Trainer(data, OPTIONS.replace(steps=4))
    first_half.run(tmp_path / "halves", progress=False)
    resumed = Trainer.resume(tmp_path / "halves" / "last.npz", data, {"steps": 8})
    assert resumed.state["step"] == 4
    resumed.run(tmp_path / "halves", progress=False)

    a, b = parameters(straight), parameters(resumed)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert [x[1] for x in straight.state["train_loss"]] == [x[1] for x in resumed.state["train_loss"]]


def test_checkpoint_round_trip_gives_identical_translations(data, tmp_path):
    trainer = Trainer(data, OPTIONS.replace(steps=10))
    trainer.run(tmp_path, progress=False)
    sentences = [zh for zh, _ in data["test"][:8]]
    before = trainer.translator.translate(sentences)
    loaded, header = Translator.load(tmp_path / "last.npz")
    assert loaded.translate(sentences) == before
    assert loaded.translate(sentences, beam_size=3) == trainer.translator.translate(sentences, beam_size=3)
    assert header["extra"]["trainer"]["step"] == 10


def test_a_corrupted_checkpoint_gives_a_clear_error(tmp_path, data):
    trainer = Trainer(data, OPTIONS.replace(steps=1))
    path = tmp_path / "model.npz"
    trainer.translator.save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a valid tinytransformer checkpoint"):
        Translator.load(path)


# -- what is checked before the first step ---------------------------------------------------
def test_train_config_defaults_are_the_examples():
    assert load_example("train_translate").DEFAULTS == TrainConfig().to_dict()
    assert [f.name for f in dataclasses.fields(TrainConfig)] == list(OPTIONS.to_dict())
    assert TrainConfig.from_dict(OPTIONS.to_dict()) == OPTIONS
    with pytest.raises(ValueError, match="unknown fields"):
        TrainConfig.from_dict({"step": 3})


@pytest.mark.parametrize("field, value, message", [
    ("eval_every", 0, "eval_every must be an integer >= 1"),
    ("steps", -5, "steps must be an integer >= 1"),
    ("batch_tokens", 0, "batch_tokens"),
    ("max_len", 2, "max_len must be an integer >= 3"),
    ("d_model", 2.5, "d_model must be an integer"),
    ("n_layers", True, "n_layers must be an integer"),
    ("warmup", 0, "warmup"),
    ("dropout", 1.0, r"dropout must be a number in \[0, 1\)"),
    ("label_smoothing", -0.1, "label_smoothing"),
    ("lr_factor", 0.0, "lr_factor must be a number in > 0"),
    ("clip", float("nan"), "clip"),
    ("seed", -1, "seed"),
    ("n_heads", 3, "not divisible"),
    ("n_layers", 1000, "n_layers=1000 is out of range"),
])
def test_train_config_rejects_values_out_of_range(field, value, message):
    with pytest.raises(ValueError, match=message):
        OPTIONS.replace(**{field: value})


def test_data_without_a_usable_pair_is_refused_before_any_step(data):
    few = {"train": data["train"][:5], "dev": data["dev"][:2]}
    cases = [
        ({"train": [], "dev": few["dev"]}, OPTIONS, "nothing to train on"),
        ({"train": few["train"], "dev": []}, OPTIONS, "the dev set is empty"),
        (few, OPTIONS.replace(max_len=3), "none of the 5 training pairs fits max_len=3"),
        ({"train": few["train"], "dev": [("我" * 60, "I " * 60)]}, OPTIONS,
         "none of the 1 dev pairs fits max_len=40"),
    ]
    for pairs, config, message in cases:
        with pytest.raises(TrainingError, match=message):
            Trainer(pairs, config)


def test_pairs_too_long_for_the_positions_are_left_out_and_counted(data):
    long_pair = ("我" * 60, "I " * 60)
    trainer = Trainer({"train": data["train"][:20] + [long_pair],
                       "dev": data["dev"][:3] + [long_pair]}, OPTIONS)
    assert trainer.skipped == {"train": 1, "dev": 1}
    assert long_pair not in trainer.dev_pairs and len(trainer.dev_pairs) == 3
    assert len(trainer.train_ids[0]) == 20


def test_time_limit_ends_the_run_and_cannot_spin(data, tmp_path):
    with pytest.raises(TrainingError, match="time limit must be positive"):
        Trainer(data, OPTIONS).run(tmp_path / "a", progress=False, time_limit=0)
    trainer = Trainer(data, OPTIONS.replace(steps=10_000))
    trainer.run(tmp_path / "b", progress=False, time_limit=1e-9)
    assert trainer.state["step"] == 1 and trainer.state["evaluated"] == 1
    # A resumed run whose time is already spent ends at once, without a step.
    resumed = Trainer.resume(tmp_path / "b" / "last.npz", data)
    resumed.run(tmp_path / "b", progress=False, time_limit=1e-9)
    assert resumed.state["step"] == 1


def test_tokens_per_second_after_an_evaluation_is_of_training_only(data, tmp_path, monkeypatch):
    """The bar's tok_s is the tokens of the steps in a window over the window's
    time. An evaluation (here 100 s on a fake clock) between steps 2 and 3 must
    not fall into the window: step 3 shows the same rate as step 1 (each step
    takes the same ticks of the clock), where the window across the evaluation
    showed 0.03% of it."""
    from tinytransformer.data import PAD
    from tinytransformer.translation import trainer as trainer_module
    clock = [0.0]

    def tick():
        clock[0] += 0.01
        return clock[0]
    monkeypatch.setattr(trainer_module.time, "perf_counter", tick)
    shown, tokens = [], []

    class Recording(trainer_module.Progress):
        def update(self, n=1, **postfix):
            shown.append(float(postfix["tok_s"].replace(",", "")))
            super().update(n, **postfix)
    monkeypatch.setattr(trainer_module, "Progress", Recording)
    trainer = Trainer(data, OPTIONS.replace(steps=4, eval_every=2))
    train_step, evaluate = trainer.train_step, trainer.evaluate

    def counted_step(src, tgt):
        tokens.append(int((tgt[:, 1:] != PAD).sum()))
        return train_step(src, tgt)

    def slow_evaluate(*args, **kwargs):
        clock[0] += 100.0
        return evaluate(*args, **kwargs)
    monkeypatch.setattr(trainer, "train_step", counted_step)
    monkeypatch.setattr(trainer, "evaluate", slow_evaluate)
    trainer.run(tmp_path, progress=False)
    assert len(shown) == len(tokens) == 4
    per_token = [rate / n for rate, n in zip(shown, tokens)]  # 1 / the window's seconds
    assert per_token[2] > 0.5 * per_token[0], per_token
