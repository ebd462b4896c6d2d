"""Training a translator: the configuration of a run and the training loop.

    trainer = Trainer(data, TrainConfig(steps=1200))
    trainer.run("runs/translate")
    trainer = Trainer.resume("runs/translate/last.npz", data)   # continues exactly

What the loop promises:

* Everything is checked before the first step (the config, that there is data
  to train on and a usable dev set, that the output folder is free and
  writable); a problem is one TrainingError saying what to change.
* A checkpoint holds everything a run needs to continue (model, Adam state,
  schedule, data position, random generator), always taken at a step
  boundary, so resuming from any checkpoint - after Ctrl-C, SIGTERM, a crash
  or a SIGKILL - gives bit for bit the run that was never stopped.
* last.npz is written before step 1 and before every evaluation, so an error
  or a kill at an evaluation loses no training; best.npz when dev BLEU improves.
* SIGINT and SIGTERM stop the run at the next step boundary, after saving
  last.npz (`Interrupted`, exit status 130 or 143 in the example).
* A NaN or infinite loss or gradient stops the run before it changes a weight
  (`NonFiniteError`); the checkpoints on disk stay as they were.
"""
import dataclasses
import importlib.util
import json
import math
import numbers
import os
import pathlib
import signal
import time
import uuid

import numpy as np

import tinytensor as tt

from ..data import PAD, Vocab
from ..nn import evaluating
from ..optim import Adam, clip_grad_norm_
from ..optim.lr_scheduler import NoamSchedule
from ..transformer import Transformer, TransformerConfig
from ..utils.checkpoint import average_checkpoints, load_checkpoint
from ..utils.progress import Progress
from .parallel import make_batches
from .errors import Interrupted, NonFiniteError, RunFolderError, TrainingError
from .runs import STEP_CHECKPOINTS, RunFolder, StopSignals
from .tokenizers import SentencePieceTokenizer, WordTokenizer, find_proper_nouns
from .evaluation import bleu_score
from .translator import Translator

__all__ = ["TrainConfig", "Trainer", "TrainingError", "NonFiniteError", "Interrupted"]

TOKENIZERS = ("words", "sentencepiece-en", "sentencepiece")


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run (saved in its checkpoints).

    The defaults train the built-in corpus in about six minutes on a CPU.
    Each value is checked when the config is made (a ValueError names it)."""
    # the model (see Transformer)
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    max_len: int = 64            # longest sentence in tokens, </s> and <s> included
    tie_output: bool = False     # the output layer reuses the target embedding (section 3.4)
    # the data
    batch_tokens: int = 1500     # about this many (padded) tokens per batch
    min_freq: int = 1            # rarer tokens become <unk>
    # "words": Chinese characters and English lower-cased words (exact on the built-in corpus);
    # "sentencepiece-en": SentencePiece subwords for English, characters for Chinese;
    # "sentencepiece": subwords for both. SentencePiece is trained on the training pairs only.
    tokenizer: str = "words"
    subword_vocab: int = 4000    # pieces per SentencePiece model
    # the optimisation
    warmup: int = 400            # steps of the paper's warmup schedule
    lr_factor: float = 1.0
    label_smoothing: float = 0.1
    clip: float = 1.0            # largest gradient norm
    steps: int = 1200
    eval_every: int = 300
    keep_checkpoints: int = 0    # keep the weights of the last this many evaluations, to average
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        at_least = {"d_model": 1, "n_heads": 1, "n_layers": 1, "d_ff": 1, "max_len": 3,
                    "batch_tokens": 1, "min_freq": 1, "warmup": 1, "steps": 1, "eval_every": 1,
                    "seed": 0, "subword_vocab": 16, "keep_checkpoints": 0}
        for name, low in at_least.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"TrainConfig: {name} must be an integer >= {low}, got {value!r}")
        ranges = {"dropout": (0.0, 1.0, "[0, 1)"), "label_smoothing": (0.0, 1.0, "[0, 1)"),
                  "lr_factor": (0.0, math.inf, "> 0"), "clip": (0.0, math.inf, "> 0")}
        for name, (low, high, text) in ranges.items():
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and \
                math.isfinite(value) and low <= value < high and (value > 0 or text != "> 0")
            if not ok:
                raise ValueError(f"TrainConfig: {name} must be a number in {text}, got {value!r}")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"TrainConfig: tokenizer must be one of {', '.join(TOKENIZERS)}, "
                             f"got {self.tokenizer!r}")
        if not isinstance(self.device, str):
            raise ValueError(f"TrainConfig: device must be 'cpu' or 'cuda', got {self.device!r}")
        self.model_config(1000, 1000)               # the model's own checks (d_model / n_heads)

    def model_config(self, src_vocab, tgt_vocab):
        return TransformerConfig(src_vocab, tgt_vocab, d_model=self.d_model, n_heads=self.n_heads,
                                 n_layers=self.n_layers, d_ff=self.d_ff, dropout=self.dropout,
                                 max_len=self.max_len, tie_output=self.tie_output, pad_id=PAD)

    @classmethod
    def from_dict(cls, values):
        """From a saved dict; an unknown or missing field is a clear error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown fields {unknown}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


class Trainer:
    """Trains a Translator: Adam with the paper's warmup schedule, label
    smoothing, gradient clipping, periodic validation, best/last checkpoints.

    `data` holds lists of (source, target) sentence pairs under "train" and
    "dev"; `config` is a TrainConfig (or its dict form). `proper_nouns` go to
    the Translator (see there); by default they are the names the English
    training sentences capitalise.
    """

    def __init__(self, data, config, src_lang="zh", tgt_lang="en", translator=None,
                 proper_nouns=None):
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        self.data = data
        c = self.config
        _check_bleu_available()
        if not data.get("train"):
            raise TrainingError("nothing to train on: there are no training pairs")
        if not data.get("dev"):
            raise TrainingError("the dev set is empty: give dev pairs (--dev), or more data so "
                                "that a tenth of it can be held out")
        tt.manual_seed(c.seed)
        if translator is None:
            if proper_nouns is None:
                proper_nouns = find_proper_nouns(t for _, t in data["train"]) if tgt_lang == "en" else ()
            src_tokenizer = self._tokenizer([s for s, _ in data["train"]], src_lang)
            tgt_tokenizer = self._tokenizer([t for _, t in data["train"]], tgt_lang, proper_nouns)
            src_vocab = self._vocab(src_tokenizer, [s for s, _ in data["train"]])
            tgt_vocab = self._vocab(tgt_tokenizer, [t for _, t in data["train"]])
            model = Transformer.from_config(c.model_config(len(src_vocab), len(tgt_vocab)))
            translator = Translator(model, src_vocab, tgt_vocab, src_lang, tgt_lang, proper_nouns,
                                    src_tokenizer, tgt_tokenizer)
        self.translator = translator
        try:
            self.model = translator.model.to(c.device)
        except (ValueError, RuntimeError) as error:          # unknown device, or no GPU
            raise TrainingError(f"device {c.device!r}: {error}") from None
        self.optimizer = Adam(self.model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
        self.schedule = NoamSchedule(self.optimizer, c.d_model, c.warmup, c.lr_factor)
        self.train_ids, train_kept = self._encode(data["train"])
        dev_ids, dev_kept = self._encode(data["dev"])
        self.dev_ids, self.dev_pairs = dev_ids, [data["dev"][i] for i in dev_kept]
        self.skipped = {"train": len(data["train"]) - len(train_kept),
                        "dev": len(data["dev"]) - len(dev_kept)}
        for part, pairs, kept in (("training", data["train"], train_kept),
                                  ("dev", data["dev"], dev_kept)):
            if not kept:
                raise TrainingError(f"none of the {len(pairs)} {part} pairs fits max_len="
                                    f"{c.max_len} tokens (with <s> and </s>): raise --max-len, "
                                    "or give shorter sentences")
        self.state = {"step": 0, "epoch": 0, "batch": 0, "train_loss": [], "val": [],
                      "best_bleu": -1.0, "seconds": 0.0, "run_id": uuid.uuid4().hex,
                      "evaluated": 0}
        self.resumed = False
        self._batches = (None, None)
        self._stop = None

    def _tokenizer(self, sentences, lang, proper_nouns=()):
        """The config's tokenizer for one side, SentencePiece trained on `sentences`."""
        kind = self.config.tokenizer
        if kind == "sentencepiece" or (kind == "sentencepiece-en" and lang == "en"):
            try:
                return SentencePieceTokenizer.train(sentences, lang, self.config.subword_vocab)
            except (ImportError, ValueError) as error:
                raise TrainingError(f"tokenizer {kind!r}: {error}") from None
        return WordTokenizer(lang, proper_nouns)

    def _vocab(self, tokenizer, sentences):
        """The training side's tokens seen min_freq times, most frequent first; then, for
        subwords, every other piece of the model (so no word is ever <unk>)."""
        vocab = Vocab.build([tokenizer.tokenize(s) for s in sentences], self.config.min_freq)
        if not hasattr(tokenizer, "pieces"):
            return vocab
        unused = [piece for piece in tokenizer.pieces() if piece not in vocab]
        return Vocab(vocab.itos + unused, list(vocab.counts) + [0] * len(unused), vocab.specials,
                     vocab.total)

    def _encode(self, pairs):
        """(source ids, target ids) of the pairs that fit the position table, and their indices."""
        t = self.translator
        src = [t.src_vocab.encode(t.src_tokenizer.tokenize(s)) for s, _ in pairs]
        tgt = [t.tgt_vocab.encode(t.tgt_tokenizer.tokenize(x)) for _, x in pairs]
        keep = [i for i in range(len(src))
                if src[i] and max(len(src[i]) + 1, len(tgt[i]) + 2) <= self.config.max_len]
        return ([src[i] for i in keep], [tgt[i] for i in keep]), keep

    def epoch_batches(self, epoch):
        """The same batches in the same order for the same seed and epoch (for --resume)."""
        if self._batches[0] != epoch:
            batches = make_batches(*self.train_ids, self.config.batch_tokens, shuffle=True,
                                   seed=self.config.seed * 100_003 + epoch)
            if not batches:
                raise TrainingError(f"epoch {epoch} has no batch to train on")
            self._batches = (epoch, batches)
        return self._batches[1]

    def loss(self, src, tgt, smoothing):
        logits = self.model(src, tgt[:, :-1])   # teacher forcing: predict each next token
        # torch's layout: classes on dim 1, so the (B, T, V) logits go in as (B*T, V) rows
        return tt.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].reshape(-1), ignore_index=PAD,
                                label_smoothing=smoothing)

    def train_step(self, src, tgt):
        """One update; a NaN or infinite loss or gradient raises NonFiniteError
        before any weight, optimizer or schedule state changes."""
        self.model.train()
        step = self.state["step"] + 1
        loss = self.loss(src, tgt, self.config.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):
            raise NonFiniteError(f"step {step}: the loss is {value}")
        self.optimizer.zero_grad()
        loss.backward()
        norm = float(clip_grad_norm_(self.model.parameters(), self.config.clip))   # a 0-d tensor
        if not math.isfinite(norm):
            raise NonFiniteError(f"step {step}: the gradient norm is {norm}")
        self.optimizer.step()
        self.schedule.step()
        return value

    @tt.no_grad()
    def validation_loss(self):
        """Mean cross-entropy per target token on the dev set (no smoothing, no dropout)."""
        total, count = 0.0, 0
        with evaluating(self.model):
            for src, tgt in make_batches(*self.dev_ids, self.config.batch_tokens, shuffle=False):
                tokens = int((tgt[:, 1:] != PAD).sum())
                total += self.loss(src, tgt, 0.0).item() * tokens
                count += tokens
        return total / max(count, 1)

    def bleu(self, pairs, beam_size=1):
        """Corpus BLEU of the translations of `pairs` (sentences too long for the
        model are translated in pieces, silently)."""
        sources, references = [s for s, _ in pairs], [t for _, t in pairs]
        translations = self.translator.translate(sources, beam_size, on_long=lambda *_: None)
        return bleu_score(translations, references, self.translator.tgt_lang)

    # -- the run -----------------------------------------------------------------------
    def claim(self, folder, overwrite=False):
        """Make sure the folder holds no other run's checkpoints (RunFolderError
        otherwise, unless `overwrite`, which deletes them), and take over the
        best BLEU of this run's best.npz."""
        if folder.claimed:
            return
        run_id = self.state["run_id"]
        foreign = sorted(name for name, owner in folder.checkpoint_runs().items()
                         if owner != run_id)
        if foreign and not overwrite:
            what = ("checkpoints of another run" if self.resumed else "the checkpoints of a "
                    "run")
            hint = "" if self.resumed else f"continue it with --resume {folder / 'last.npz'}, "
            raise RunFolderError(f"{folder} already holds {what} ({', '.join(foreign)}): {hint}"
                                 "start over there with --overwrite, or choose another --out")
        for name in foreign:
            (folder / name).unlink()
        best = folder.best_bleu(run_id)
        if best is not None and best > self.state["best_bleu"]:
            self.state["best_bleu"] = best
        folder.claimed = True

    def run(self, out_dir, eval_pairs=None, progress=True, time_limit=None, on_eval=None,
            overwrite=False):
        """Train until config.steps, evaluating every eval_every steps, in the
        folder `out_dir` (a path or a RunFolder). `time_limit` (seconds, over
        all sessions of the run) ends it early. Returns the state; raises
        Interrupted after SIGINT/SIGTERM, NonFiniteError, or RunFolderError."""
        if time_limit is not None and not time_limit > 0:
            raise TrainingError(f"the time limit must be positive, got {time_limit}")
        folder = out_dir if isinstance(out_dir, RunFolder) else RunFolder(out_dir)
        eval_pairs = eval_pairs if eval_pairs is not None else self.dev_pairs
        with folder, StopSignals() as stop:
            self._stop = stop
            try:
                self.claim(folder, overwrite)
                bar = Progress(total=self.config.steps, initial=self.state["step"], unit="step",
                               enabled=progress)
                try:
                    self._loop(folder, eval_pairs, bar, stop, time_limit, on_eval)
                finally:
                    bar.close()
            finally:
                self._stop = None
            if stop.requested:
                self.save(folder / "last.npz")
                raise Interrupted(stop.requested,
                                  f"interrupted by {stop.name} at step {self.state['step']}: saved "
                                  f"{folder / 'last.npz'} (continue with --resume "
                                  f"{folder / 'last.npz'})")
        return self.state

    def request_stop(self, signum=signal.SIGINT):
        """Ask a running `run` (say, from another thread) to stop at the next step
        boundary, as if it had received `signum`."""
        stop = self._stop
        if stop is not None and stop.requested is None:
            stop.requested = signum

    def _loop(self, folder, eval_pairs, bar, stop, time_limit, on_eval):
        c, state = self.config, self.state
        last = folder / "last.npz"
        if not last.exists():
            self.save(last)                    # before step 1: the run can always resume
        if self._due_for_evaluation():         # a run stopped before its evaluation
            self.evaluate(folder, eval_pairs, bar, on_eval)
        started = time.perf_counter() - state["seconds"]
        window_tokens, window_start = 0, time.perf_counter()
        while state["step"] < c.steps and not stop.requested:
            if time_limit is not None and state["seconds"] > time_limit:
                break
            batches = self.epoch_batches(state["epoch"])
            if state["batch"] >= len(batches):   # a checkpoint from the end of an epoch
                state["epoch"], state["batch"] = state["epoch"] + 1, 0
                continue
            src, tgt = batches[state["batch"]]
            try:
                loss = self.train_step(src, tgt)
            except NonFiniteError as error:
                raise NonFiniteError(f"{error}: training stopped before this step changed any "
                                     f"weight; the checkpoints in {folder} are as they were "
                                     "(resume with a smaller --lr-factor or --clip)") from None
            state["step"] += 1
            state["batch"] += 1
            if state["batch"] == len(batches):
                state["epoch"], state["batch"] = state["epoch"] + 1, 0
            state["train_loss"].append((state["step"], loss))
            window_tokens += int((tgt[:, 1:] != PAD).sum())
            now = time.perf_counter()
            bar.update(1, loss=f"{loss:.3f}", lr=f"{self.schedule.get_last_lr()[0]:.2e}",
                       tok_s=f"{window_tokens / max(now - window_start, 1e-9):,.0f}")
            if now - window_start > 10:
                window_tokens, window_start = 0, now
            state["seconds"] = now - started
            out_of_time = time_limit is not None and state["seconds"] > time_limit
            if self._due_for_evaluation() or (out_of_time and state["evaluated"] < state["step"]):
                self.save(last)                # an error in the evaluation loses nothing
                self.evaluate(folder, eval_pairs, bar, on_eval)
                # tokens/s is of training: the window starts again after the evaluation
                window_tokens, window_start = 0, time.perf_counter()

    def _due_for_evaluation(self):
        step = self.state["step"]
        return step > self.state["evaluated"] and (step % self.config.eval_every == 0
                                                   or step == self.config.steps)

    def evaluate(self, out_dir, eval_pairs=None, bar=None, on_eval=None):
        """Dev loss and BLEU now; best.npz if BLEU improved, then last.npz."""
        state = self.state
        eval_pairs = eval_pairs if eval_pairs is not None else self.dev_pairs
        val_loss = self.validation_loss()
        bleu = self.bleu(eval_pairs)
        state["val"].append((state["step"], val_loss, bleu))
        state["evaluated"] = state["step"]
        message = f"step {state['step']}: dev loss {val_loss:.3f}, dev BLEU {bleu:.1f} (greedy)"
        (bar.write if bar is not None else print)(message)
        if bleu > state["best_bleu"]:
            state["best_bleu"] = bleu
            self.save(out_dir / "best.npz")
        if self.config.keep_checkpoints:
            self._keep_weights(out_dir)
        self.save(out_dir / "last.npz")
        if on_eval is not None:
            on_eval(self)

    def _keep_weights(self, folder):
        """step-<N>.npz: this evaluation's weights (no optimizer state), for `average`; only
        the newest keep_checkpoints such files stay."""
        self.translator.save(folder / f"step-{self.state['step']:07d}.npz", None,
                             {"trainer": {"run_id": self.state["run_id"],
                                          "step": self.state["step"]}})
        kept = sorted(pathlib.Path(os.fspath(folder)).glob(STEP_CHECKPOINTS))
        for old in kept[:-self.config.keep_checkpoints]:
            old.unlink()

    def average(self, folder, last=None):
        """averaged.npz in `folder`: the element-wise mean of the weights of the newest `last`
        (default keep_checkpoints) step-<N>.npz checkpoints of this run. Returns its path,
        or None when there are fewer than two to average."""
        folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        last = last or self.config.keep_checkpoints
        runs = folder.checkpoint_runs()
        mine = sorted(name for name, owner in runs.items()
                      if name.startswith("step-") and owner == self.state["run_id"])[-last:]
        if len(mine) < 2:
            return None
        out = folder / "averaged.npz"
        extra = {"averaged": mine, "trainer": {"run_id": self.state["run_id"],
                                               "step": self.state["step"]}}
        average_checkpoints([folder / name for name in mine], out, extra)
        return out

    def save(self, path):
        """A checkpoint of the run as it is now (refused if a weight is not finite)."""
        for name, p in self.model.named_parameters():
            if not np.isfinite(p.numpy()).all():
                raise NonFiniteError(f"step {self.state['step']}: {name} holds NaN or infinite "
                                     f"values; not saving {path}")
        extra = {"trainer": self.state, "options": self.config.to_dict(),
                 "schedule": self.schedule.state_dict(), "rng": tt.get_rng_state()}
        self.translator.save(path, self.optimizer, json.loads(json.dumps(extra)))

    @classmethod
    def resume(cls, path, data, overrides=None):
        """A Trainer that continues the run saved at `path`; `overrides` may
        change settings that do not affect the model (steps, eval_every, device)."""
        translator, header = Translator.load(path)
        extra = header["extra"]
        try:
            # tie_output came with issue 12; a checkpoint from before says it in its model.
            options = {"tie_output": translator.model.config.tie_output, **extra["options"]}
            config = TrainConfig.from_dict(options).replace(**(overrides or {}))
            state, schedule, rng = extra["trainer"], extra["schedule"], extra["rng"]
        except (KeyError, TypeError) as error:
            raise TrainingError(f"{path} holds no training state to resume ({error!r} is "
                                "missing): it was saved by Translator.save, not by a Trainer") from None
        trainer = cls(data, config, translator.src_lang, translator.tgt_lang, translator)
        load_checkpoint(path, optimizer=trainer.optimizer)
        trainer.schedule.load_state_dict(schedule)
        state["train_loss"] = [tuple(x) for x in state["train_loss"]]
        state["val"] = [tuple(x) for x in state["val"]]
        state.setdefault("run_id", None)       # checkpoints from before run ids
        state.setdefault("evaluated", state["val"][-1][0] if state["val"] else 0)
        trainer.state, trainer.resumed = state, True
        tt.set_rng_state(rng)
        return trainer


def _check_bleu_available():
    if importlib.util.find_spec("sacrebleu") is None:
        raise TrainingError('evaluating needs sacrebleu: pip install "tinytensor[examples]"')

