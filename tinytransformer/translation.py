"""Translation with the Transformer: a Translator (model + vocabularies) and
the training loop behind examples/train_translate.py.

    translator = Translator.load("runs/translate/best.npz")
    translator.translate(["我有苹果。"])          # ['I have an apple.']

The Trainer keeps everything a run needs to continue exactly where it
stopped (model, Adam state, schedule, data position, random generator) in one
checkpoint, so `--resume` gives the same result as an uninterrupted run.
"""
import json
import time

import numpy as np

import tinytensor as tt

from .utils.checkpoint import load_checkpoint, save_checkpoint
from .decoding import beam_search, greedy_decode
from .optim import Adam, clip_grad_norm_
from .optim.lr_scheduler import NoamSchedule
from .text import BOS, EOS, PAD, Vocab, detokenize_en, make_batches, tokenize_en, tokenize_zh
from .transformer import Transformer

__all__ = ["tokenize", "detokenize", "Translator", "Trainer", "corpus_bleu"]


def tokenize(text, lang):
    """Chinese by character, English as lower-cased words and punctuation."""
    if lang == "zh":
        return tokenize_zh(text)
    if lang == "en":
        return tokenize_en(text)
    raise ValueError(f"unknown language {lang!r}: expected 'zh' or 'en'")


def detokenize(tokens, lang):
    return "".join(tokens) if lang == "zh" else detokenize_en(tokens)


def corpus_bleu(hypotheses, references):
    """Corpus BLEU (0-100) with sacreBLEU's standard settings (13a tokenizer;
    'zh' tokenizer when the references are Chinese)."""
    try:
        import sacrebleu
    except ImportError:
        raise ImportError('BLEU needs sacrebleu: pip install "tinytensor[examples]"') from None
    chinese = any("\u4e00" <= ch <= "\u9fff" for ref in references[:20] for ch in ref)
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                 tokenize="zh" if chinese else "13a").score


class Translator:
    """A Transformer with its source and target vocabularies."""

    def __init__(self, model, src_vocab, tgt_vocab, src_lang="zh", tgt_lang="en"):
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.src_lang, self.tgt_lang = src_lang, tgt_lang

    def encode_sources(self, texts):
        """Padded (B, S) source ids, each sentence followed by </s> (as in training)."""
        rows = [self.src_vocab.encode(tokenize(t, self.src_lang)) + [EOS] for t in texts]
        ids = np.full((len(rows), max(len(r) for r in rows)), PAD, dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
        return ids

    def translate_ids(self, texts, beam_size=1, max_len=None, length_penalty=0.6):
        src = self.encode_sources(texts)
        max_len = max_len or 2 * src.shape[1] + 10
        if beam_size > 1:
            return beam_search(self.model, src, BOS, EOS, beam_size, max_len, length_penalty)
        return greedy_decode(self.model, src, BOS, EOS, max_len)

    def translate(self, texts, beam_size=1, max_len=None, batch_size=64):
        """Translate a list of sentences (greedy, or beam search if beam_size > 1)."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out = []
        for start in range(0, len(texts), batch_size):
            for ids in self.translate_ids(texts[start:start + batch_size], beam_size, max_len):
                out.append(detokenize(self.tgt_vocab.decode(ids), self.tgt_lang))
        return out[0] if single else out

    @tt.no_grad()
    def cross_attention(self, text, beam_size=1):
        """(source tokens, output tokens, weights (n_heads, T, S)) of the last
        decoder layer's cross-attention while producing the translation."""
        out_ids = self.translate_ids([text], beam_size)[0] + [EOS]
        src = self.encode_sources([text])
        tgt_in = np.array([[BOS] + out_ids[:-1]], dtype=np.int64)
        was_training = self.model.training
        self.model.eval()
        memory, src_mask = self.model.encode(src)
        _, weights = self.model.decode(tgt_in, memory, src_mask, need_weights=True)
        self.model.train(was_training)
        src_tokens = tokenize(text, self.src_lang) + ["</s>"]
        out_tokens = self.tgt_vocab.decode(out_ids, strip_special=False)
        return src_tokens, out_tokens, weights.numpy()[0]

    def config(self):
        return {"model": self.model.config.to_dict(), "src_vocab": self.src_vocab.to_dict(),
                "tgt_vocab": self.tgt_vocab.to_dict(), "src_lang": self.src_lang,
                "tgt_lang": self.tgt_lang}

    def save(self, path, optimizer=None, extra=None):
        """One .npz with weights, vocabularies and (optionally) training state, written atomically."""
        save_checkpoint(path, self.model, optimizer, self.config(), extra)

    @classmethod
    def load(cls, path, device=None):
        """A Translator from a checkpoint (onto `device`), and the checkpoint's contents."""
        header = load_checkpoint(path)
        config = header["config"]
        try:
            model = Transformer.from_config(config["model"])
            src_vocab, tgt_vocab = Vocab.from_dict(config["src_vocab"]), Vocab.from_dict(config["tgt_vocab"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a translator checkpoint (its config lacks {error})") from None
        if device is not None:
            model.to(device)
        model.load_state_dict(header["model_state"])
        model.eval()
        return cls(model, src_vocab, tgt_vocab, config["src_lang"], config["tgt_lang"]), header


class Trainer:
    """Trains a Translator: Adam with the paper's warmup schedule, label
    smoothing, gradient clipping, periodic validation, best/last checkpoints.

    `data` holds lists of (source, target) sentence pairs under "train" and
    "dev". `options` are the command line's: d_model, n_heads, n_layers, d_ff,
    dropout, batch_tokens, warmup, lr_factor, label_smoothing, clip, steps,
    eval_every, min_freq, seed, device, max_len.
    """

    def __init__(self, data, options, src_lang="zh", tgt_lang="en", translator=None):
        self.options, self.data = dict(options), data
        o = self.options
        tt.manual_seed(o["seed"])
        if translator is None:
            src_vocab = Vocab([tokenize(s, src_lang) for s, _ in data["train"]], min_freq=o["min_freq"])
            tgt_vocab = Vocab([tokenize(t, tgt_lang) for _, t in data["train"]], min_freq=o["min_freq"])
            model = Transformer(len(src_vocab), len(tgt_vocab), d_model=o["d_model"],
                                n_heads=o["n_heads"], n_layers=o["n_layers"], d_ff=o["d_ff"],
                                dropout=o["dropout"], max_len=o["max_len"], pad_id=PAD)
            translator = Translator(model, src_vocab, tgt_vocab, src_lang, tgt_lang)
        self.translator = translator
        self.model = translator.model.to(o["device"])
        self.optimizer = Adam(self.model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
        self.schedule = NoamSchedule(self.optimizer, o["d_model"], o["warmup"], o["lr_factor"])
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
                if max(len(src[i]) + 1, len(tgt[i]) + 2) <= self.options["max_len"]]
        return [src[i] for i in keep], [tgt[i] for i in keep]

    def epoch_batches(self, epoch):
        """The same batches in the same order for the same seed and epoch (for --resume)."""
        return make_batches(*self.train_ids, self.options["batch_tokens"], shuffle=True,
                            seed=self.options["seed"] * 100_003 + epoch)

    def loss(self, src, tgt, smoothing):
        logits = self.model(src, tgt[:, :-1])   # teacher forcing: predict each next token
        return tt.cross_entropy(logits, tgt[:, 1:], ignore_index=PAD, label_smoothing=smoothing)

    def train_step(self, src, tgt):
        self.model.train()
        loss = self.loss(src, tgt, self.options["label_smoothing"])
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(self.model.parameters(), self.options["clip"])
        self.optimizer.step()
        self.schedule.step()
        return loss.item()

    @tt.no_grad()
    def validation_loss(self):
        """Mean cross-entropy per target token on the dev set (no smoothing, no dropout)."""
        self.model.eval()
        total, count = 0.0, 0
        for src, tgt in make_batches(*self.dev_ids, self.options["batch_tokens"], shuffle=False):
            tokens = int((tgt[:, 1:] != PAD).sum())
            total += self.loss(src, tgt, 0.0).item() * tokens
            count += tokens
        return total / max(count, 1)

    def bleu(self, pairs, beam_size=1):
        sources, references = [s for s, _ in pairs], [t for _, t in pairs]
        return corpus_bleu(self.translator.translate(sources, beam_size), references)

    def run(self, out_dir, eval_pairs=None, progress=True, time_limit=None, on_eval=None):
        """Train until options["steps"]; evaluate every eval_every steps, saving
        last.npz always and best.npz when dev BLEU improves. Ctrl-C saves last.npz."""
        import pathlib
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        o, state = self.options, self.state
        eval_pairs = eval_pairs if eval_pairs is not None else self.data["dev"]
        bar = _progress_bar(o["steps"], state["step"], progress)
        started, window_tokens, window_start = time.perf_counter() - state["seconds"], 0, time.perf_counter()
        try:
            while state["step"] < o["steps"]:
                batches = self.epoch_batches(state["epoch"])
                for src, tgt in batches[state["batch"]:]:
                    loss = self.train_step(src, tgt)
                    state["step"] += 1
                    state["batch"] += 1
                    state["train_loss"].append((state["step"], loss))
                    window_tokens += int((tgt[:, 1:] != PAD).sum())
                    now = time.perf_counter()
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.schedule.get_last_lr()[0]:.2e}",
                                    tok_s=f"{window_tokens / max(now - window_start, 1e-9):,.0f}")
                    if now - window_start > 10:
                        window_tokens, window_start = 0, now
                    state["seconds"] = now - started
                    out_of_time = time_limit is not None and state["seconds"] > time_limit
                    if state["step"] % o["eval_every"] == 0 or state["step"] == o["steps"] or out_of_time:
                        self.evaluate(out_dir, eval_pairs, bar, on_eval)
                    if state["step"] >= o["steps"] or out_of_time:
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
        extra = {"trainer": self.state, "options": self.options,
                 "schedule": self.schedule.state_dict(), "rng": tt.get_rng_state()}
        self.translator.save(path, self.optimizer, json.loads(json.dumps(extra)))

    @classmethod
    def resume(cls, path, data, overrides=None):
        """A Trainer that continues the run saved at `path`; `overrides` may
        change options that do not affect the model (steps, eval_every, device)."""
        translator, header = Translator.load(path)
        extra = header["extra"]
        options = dict(extra["options"])
        options.update(overrides or {})
        trainer = cls(data, options, translator.src_lang, translator.tgt_lang, translator)
        load_checkpoint(path, optimizer=trainer.optimizer)
        trainer.schedule.load_state_dict(extra["schedule"])
        trainer.state = extra["trainer"]
        trainer.state["train_loss"] = [tuple(x) for x in trainer.state["train_loss"]]
        trainer.state["val"] = [tuple(x) for x in trainer.state["val"]]
        tt.set_rng_state(extra["rng"])
        return trainer


def _progress_bar(total, initial, enabled):
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is None or not enabled:
        return _Silent()
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)


class _Silent:
    """Stands in for a tqdm bar when progress is off."""

    def update(self, n):
        pass

    def set_postfix(self, **kwargs):
        pass

    def write(self, message):
        print(message)

    def close(self):
        pass

