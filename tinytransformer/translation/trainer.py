"""Training a translator: the configuration of a run and the training loop.

    trainer = Trainer(data, TrainConfig(steps=1200))
    trainer.run("runs/translate")
    trainer = Trainer.resume("runs/translate/last.npz", data)   # continues exactly

The Trainer keeps everything a run needs to continue exactly where it
stopped (model, Adam state, schedule, data position, random generator) in one
checkpoint, so `--resume` gives the same result as an uninterrupted run.
"""
import dataclasses
import json
import pathlib
import time

import tinytensor as tt

from ..data import PAD, Vocab
from ..nn import evaluating
from ..optim import Adam, clip_grad_norm_
from ..optim.lr_scheduler import NoamSchedule
from ..transformer import Transformer, TransformerConfig
from ..utils.checkpoint import load_checkpoint
from ..utils.progress import Progress
from .parallel import make_batches
from .tokenizers import find_proper_nouns, tokenize
from .translator import Translator, corpus_bleu

__all__ = ["TrainConfig", "Trainer"]


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run (saved in its checkpoints).

    The defaults train the built-in corpus in about six minutes on a CPU."""
    # the model (see Transformer)
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    max_len: int = 64            # longest sentence in tokens, </s> and <s> included
    # the data
    batch_tokens: int = 1500     # about this many (padded) tokens per batch
    min_freq: int = 1            # rarer tokens become <unk>
    # the optimisation
    warmup: int = 400            # steps of the paper's warmup schedule
    lr_factor: float = 1.0
    label_smoothing: float = 0.1
    clip: float = 1.0            # largest gradient norm
    steps: int = 1200
    eval_every: int = 300
    seed: int = 0
    device: str = "cpu"

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
        tt.manual_seed(c.seed)
        if translator is None:
            src_vocab = Vocab.build([tokenize(s, src_lang) for s, _ in data["train"]], c.min_freq)
            tgt_vocab = Vocab.build([tokenize(t, tgt_lang) for _, t in data["train"]], c.min_freq)
            model = Transformer.from_config(TransformerConfig(
                len(src_vocab), len(tgt_vocab), d_model=c.d_model, n_heads=c.n_heads,
                n_layers=c.n_layers, d_ff=c.d_ff, dropout=c.dropout, max_len=c.max_len,
                pad_id=PAD))
            if proper_nouns is None:
                proper_nouns = find_proper_nouns(t for _, t in data["train"]) if tgt_lang == "en" else ()
            translator = Translator(model, src_vocab, tgt_vocab, src_lang, tgt_lang, proper_nouns)
        self.translator = translator
        self.model = translator.model.to(c.device)
        self.optimizer = Adam(self.model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
        self.schedule = NoamSchedule(self.optimizer, c.d_model, c.warmup, c.lr_factor)
        self.train_ids = self._encode(data["train"])
        self.dev_ids = self._encode(data["dev"])
        self.state = {"step": 0, "epoch": 0, "batch": 0, "train_loss": [], "val": [],
                      "best_bleu": -1.0, "seconds": 0.0}

    def _encode(self, pairs):
        t = self.translator
        src = [t.src_vocab.encode(tokenize(s, t.src_lang)) for s, _ in pairs]
        tgt = [t.tgt_vocab.encode(tokenize(x, t.tgt_lang)) for _, x in pairs]
        # Longer sentences than the position table would fail; they are rare, skip them.
        keep = [i for i in range(len(src))
                if max(len(src[i]) + 1, len(tgt[i]) + 2) <= self.config.max_len]
        return [src[i] for i in keep], [tgt[i] for i in keep]

    def epoch_batches(self, epoch):
        """The same batches in the same order for the same seed and epoch (for --resume)."""
        return make_batches(*self.train_ids, self.config.batch_tokens, shuffle=True,
                            seed=self.config.seed * 100_003 + epoch)

    def loss(self, src, tgt, smoothing):
        logits = self.model(src, tgt[:, :-1])   # teacher forcing: predict each next token
        return tt.cross_entropy(logits, tgt[:, 1:], ignore_index=PAD, label_smoothing=smoothing)

    def train_step(self, src, tgt):
        self.model.train()
        loss = self.loss(src, tgt, self.config.label_smoothing)
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.schedule.step()
        return loss.item()

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
        sources, references = [s for s, _ in pairs], [t for _, t in pairs]
        return corpus_bleu(self.translator.translate(sources, beam_size), references)

    def run(self, out_dir, eval_pairs=None, progress=True, time_limit=None, on_eval=None):
        """Train until config.steps; evaluate every eval_every steps, saving
        last.npz always and best.npz when dev BLEU improves. Ctrl-C saves last.npz."""
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        c, state = self.config, self.state
        eval_pairs = eval_pairs if eval_pairs is not None else self.data["dev"]
        bar = Progress(total=c.steps, initial=state["step"], unit="step", enabled=progress)
        started, window_tokens, window_start = time.perf_counter() - state["seconds"], 0, time.perf_counter()
        try:
            while state["step"] < c.steps:
                batches = self.epoch_batches(state["epoch"])
                for src, tgt in batches[state["batch"]:]:
                    loss = self.train_step(src, tgt)
                    state["step"] += 1
                    state["batch"] += 1
                    state["train_loss"].append((state["step"], loss))
                    window_tokens += int((tgt[:, 1:] != PAD).sum())
                    now = time.perf_counter()
                    bar.update(1, loss=f"{loss:.3f}", lr=f"{self.schedule.get_last_lr()[0]:.2e}",
                               tok_s=f"{window_tokens / max(now - window_start, 1e-9):,.0f}")
                    if now - window_start > 10:
                        window_tokens, window_start = 0, now
                    state["seconds"] = now - started
                    out_of_time = time_limit is not None and state["seconds"] > time_limit
                    if state["step"] % c.eval_every == 0 or state["step"] == c.steps or out_of_time:
                        self.evaluate(out_dir, eval_pairs, bar, on_eval)
                    if state["step"] >= c.steps or out_of_time:
                        break
                else:
                    state["epoch"] += 1
                    state["batch"] = 0
                    continue
                break
        except KeyboardInterrupt:
            bar.close()
            self.save(out_dir / "last.npz")
            print(f"\ninterrupted at step {state['step']}: saved {out_dir / 'last.npz'} "
                  f"(continue with --resume {out_dir / 'last.npz'})")
            raise
        bar.close()
        return state

    def evaluate(self, out_dir, eval_pairs, bar=None, on_eval=None):
        state = self.state
        val_loss = self.validation_loss()
        bleu = self.bleu(eval_pairs)
        state["val"].append((state["step"], val_loss, bleu))
        message = f"step {state['step']}: dev loss {val_loss:.3f}, dev BLEU {bleu:.1f} (greedy)"
        (bar.write if bar is not None else print)(message)
        if bleu > state["best_bleu"]:
            state["best_bleu"] = bleu
            self.save(out_dir / "best.npz")
        self.save(out_dir / "last.npz")
        if on_eval is not None:
            on_eval(self)

    def save(self, path):
        extra = {"trainer": self.state, "options": self.config.to_dict(),
                 "schedule": self.schedule.state_dict(), "rng": tt.get_rng_state()}
        self.translator.save(path, self.optimizer, json.loads(json.dumps(extra)))

    @classmethod
    def resume(cls, path, data, overrides=None):
        """A Trainer that continues the run saved at `path`; `overrides` may
        change settings that do not affect the model (steps, eval_every, device)."""
        translator, header = Translator.load(path)
        extra = header["extra"]
        config = TrainConfig.from_dict(extra["options"]).replace(**(overrides or {}))
        trainer = cls(data, config, translator.src_lang, translator.tgt_lang, translator)
        load_checkpoint(path, optimizer=trainer.optimizer)
        trainer.schedule.load_state_dict(extra["schedule"])
        trainer.state = extra["trainer"]
        trainer.state["train_loss"] = [tuple(x) for x in trainer.state["train_loss"]]
        trainer.state["val"] = [tuple(x) for x in trainer.state["val"]]
        tt.set_rng_state(extra["rng"])
        return trainer
