"""Does tinytransformer learn to translate as fast as a plain PyTorch baseline?

Both train the same recipe on the same Tatoeba pairs, tokens and vocabularies
(the issue's baseline: d_model 256, 4 heads, 3+3 layers, d_ff 1024, dropout
0.1, Adam (0.9, 0.98, 1e-9) with the Noam schedule, warmup 800, label
smoothing 0.1, clipping 1.0), and print the dev loss every --eval-every steps.

    python benchmarks/translate_vs_torch.py --run torch --steps 1000
    python benchmarks/translate_vs_torch.py --run ours --steps 1000
    python benchmarks/translate_vs_torch.py --run ours --init torch --batches torch

--run ours trains with tinytransformer's Trainer (its defaults: init, batching);
--init torch starts our model from the torch baseline's initial weights
(ported, untied output layer), --batches torch feeds it the baseline's batches
(64 sentences sorted by source length, batch order shuffled), one change at a
time. The dev split is the first half of --dev, grouped by Chinese sentence
(the second half is kept as a test split). Needs PyTorch for --run torch and
--init torch; writes one JSON line per evaluation to --log.
"""
import argparse
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

import tinytensor as tt  # noqa: E402
from tinytransformer.data import BOS, EOS, PAD, Vocab, pad_sequences  # noqa: E402
from tinytransformer.translation import read_tsv, train_dev_split  # noqa: E402
from tinytransformer.translation.tokenizers import tokenize  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "tatoeba-cmn-eng")
RECIPE = dict(d_model=256, n_heads=4, n_layers=3, d_ff=1024, dropout=0.1, warmup=800,
              label_smoothing=0.1, clip=1.0, batch_tokens=704, batch_sentences=64)


def load_data(train_path, dev_path):
    """(train pairs, dev half, test half): --dev split in two by Chinese sentence."""
    train = read_tsv(train_path)
    dev, test = train_dev_split(read_tsv(dev_path), dev_fraction=0.5, seed=0)
    return train, dev, test


def encode(pairs, src_vocab, tgt_vocab, max_len=64):
    src = [src_vocab.encode(tokenize(s, "zh")) for s, _ in pairs]
    tgt = [tgt_vocab.encode(tokenize(t, "en")) for _, t in pairs]
    keep = [i for i in range(len(src)) if src[i] and max(len(src[i]) + 1, len(tgt[i]) + 2) <= max_len]
    return [src[i] for i in keep], [tgt[i] for i in keep]


def sentence_batches(src_ids, tgt_ids, rows, rng):
    """The baseline's batching: sentences sorted by source length, cut every `rows`,
    the batch order shuffled (a new order per epoch from `rng`)."""
    order = sorted(range(len(src_ids)), key=lambda i: len(src_ids[i]))
    groups = [order[k:k + rows] for k in range(0, len(order), rows)]
    groups = [groups[k] for k in rng.permutation(len(groups))]
    return [(pad_sequences([list(src_ids[i]) + [EOS] for i in g], PAD),
             pad_sequences([[BOS] + list(tgt_ids[i]) + [EOS] for i in g], PAD)) for g in groups]


def noam(step, d_model, warmup):
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


# -- the PyTorch baseline --------------------------------------------------------------
def torch_model(src_vocab, tgt_vocab, seed, d_model=RECIPE["d_model"], n_heads=RECIPE["n_heads"],
                n_layers=RECIPE["n_layers"], d_ff=RECIPE["d_ff"], dropout=RECIPE["dropout"],
                max_len=64):
    """The PyTorch baseline (float32; .double() it for exact comparisons)."""
    import torch

    torch.manual_seed(seed)
    d = d_model

    class Baseline(torch.nn.Module):
        """nn.Embedding (N(0, 1)) * sqrt(d) + sinusoids, nn.Transformer (its own Xavier
        init), an untied nn.Linear output: what a PyTorch user writes."""

        def __init__(self):
            super().__init__()
            self.src_embed = torch.nn.Embedding(src_vocab, d, padding_idx=PAD)
            self.tgt_embed = torch.nn.Embedding(tgt_vocab, d, padding_idx=PAD)
            self.core = torch.nn.Transformer(d, n_heads, n_layers, n_layers, d_ff, dropout,
                                             batch_first=True)
            self.output = torch.nn.Linear(d, tgt_vocab)
            self.dropout = torch.nn.Dropout(dropout)
            self.register_buffer("positions", torch.from_numpy(_sinusoids(max_len, d)))

        def embed(self, embedding, ids):
            return self.dropout(embedding(ids) * math.sqrt(d) + self.positions[:ids.shape[1]])

        def forward(self, src, tgt_in):
            length = tgt_in.shape[1]
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
            h = self.core(self.embed(self.src_embed, src), self.embed(self.tgt_embed, tgt_in),
                          tgt_mask=causal, tgt_is_causal=True, src_key_padding_mask=src == PAD,
                          tgt_key_padding_mask=tgt_in == PAD, memory_key_padding_mask=src == PAD)
            return self.output(h)

    return Baseline()


def _sinusoids(length, d):
    position = np.arange(length)[:, None]
    frequency = np.exp(-math.log(10000.0) * np.arange(0, d, 2) / d)
    table = np.zeros((length, d), np.float32)
    table[:, 0::2], table[:, 1::2] = np.sin(position * frequency), np.cos(position * frequency)
    return table


def port_baseline(baseline, ours):
    """Copy every weight of the torch baseline into our (untied) Transformer."""
    from tinytransformer.utils.torch_port import transformer_state_from_torch

    state = transformer_state_from_torch(baseline.core)
    for name in ("src_embed", "tgt_embed"):
        state[f"{name}.weight"] = getattr(baseline, name).weight.detach().numpy()
    state["output.weight"] = baseline.output.weight.detach().numpy()
    state["output.bias"] = baseline.output.bias.detach().numpy()
    ours.load_state_dict(state, strict=True)


def train_torch(args, data, vocabs, log):
    import torch

    model = torch_model(len(vocabs[0]), len(vocabs[1]), args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: noam(i + 1, RECIPE["d_model"], RECIPE["warmup"]))
    rng = np.random.default_rng(args.seed)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=RECIPE["label_smoothing"])

    def loss_of(src, tgt, smoothing=True):
        src, tgt = torch.from_numpy(src), torch.from_numpy(tgt)
        logits = model(src, tgt[:, :-1])
        if smoothing:
            return criterion(logits.flatten(0, 1), tgt[:, 1:].reshape(-1))
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].reshape(-1),
                                                 ignore_index=PAD)

    def dev_loss():
        model.eval()
        total = count = 0
        with torch.no_grad():
            for src, tgt in sentence_batches(*data["dev"], 64, np.random.default_rng(0)):
                n = int((tgt[:, 1:] != PAD).sum())
                total += loss_of(src, tgt, smoothing=False).item() * n
                count += n
        model.train()
        return total / count

    step, start = 0, time.perf_counter()
    while step < args.steps:
        for src, tgt in sentence_batches(*data["train"], RECIPE["batch_sentences"], rng):
            loss = loss_of(src, tgt)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), RECIPE["clip"])
            optimizer.step()
            schedule.step()
            step += 1
            if step % args.eval_every == 0 or step == args.steps:
                log(step, loss.item(), dev_loss(), time.perf_counter() - start)
            if step == args.steps:
                break


# -- ours ------------------------------------------------------------------------------
def train_ours(args, data, vocabs, log):
    from tinytransformer.translation import Translator
    from tinytransformer.translation.trainer import Trainer, TrainConfig
    from tinytransformer.transformer import Transformer

    r = RECIPE
    config = TrainConfig(d_model=r["d_model"], n_heads=r["n_heads"], n_layers=r["n_layers"],
                         d_ff=r["d_ff"], dropout=r["dropout"], warmup=r["warmup"],
                         label_smoothing=r["label_smoothing"], clip=r["clip"],
                         batch_tokens=r["batch_tokens"], steps=args.steps, seed=args.seed,
                         tie_output=args.tie_output)
    translator = None
    if args.init == "torch":
        tt.manual_seed(args.seed)
        model_config = config.model_config(len(vocabs[0]), len(vocabs[1]))
        model = Transformer.from_config({**model_config.to_dict(), "tie_output": False})
        port_baseline(torch_model(len(vocabs[0]), len(vocabs[1]), args.seed), model)
        translator = Translator(model, vocabs[0], vocabs[1])
    pairs = {"train": data["train_pairs"], "dev": data["dev_pairs"]}
    trainer = Trainer(pairs, config, translator=translator)
    assert len(trainer.translator.src_vocab) == len(vocabs[0])
    if args.batches == "torch":
        rng = np.random.default_rng(args.seed)
        epochs = {}

        def epoch_batches(epoch):
            if epoch not in epochs:
                epochs.clear()
                epochs[epoch] = sentence_batches(*trainer.train_ids, r["batch_sentences"], rng)
            return epochs[epoch]
        trainer.epoch_batches = epoch_batches
    start = time.perf_counter()
    state = trainer.state
    while state["step"] < args.steps:
        batches = trainer.epoch_batches(state["epoch"])
        src, tgt = batches[state["batch"]]
        loss = trainer.train_step(src, tgt)
        state["step"] += 1
        state["batch"] += 1
        if state["batch"] == len(batches):
            state["epoch"], state["batch"] = state["epoch"] + 1, 0
        if state["step"] % args.eval_every == 0 or state["step"] == args.steps:
            log(state["step"], loss, trainer.validation_loss(), time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", choices=["torch", "ours"], required=True)
    parser.add_argument("--init", choices=["ours", "torch"], default="ours")
    parser.add_argument("--batches", choices=["ours", "torch"], default="ours")
    parser.add_argument("--tie-output", action="store_true", help="ours: tie the output layer")
    parser.add_argument("--train", default=os.path.join(SHARED, "train.tsv"))
    parser.add_argument("--dev", default=os.path.join(SHARED, "dev.tsv"))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 2)))
    parser.add_argument("--log", help="append one JSON line per evaluation here")
    parser.add_argument("--label", help="the run's name in the log (default: from the options)")
    args = parser.parse_args()
    if args.run == "torch" or args.init == "torch":
        import torch
        torch.set_num_threads(args.threads)
    train, dev, _ = load_data(args.train, args.dev)
    src_vocab = Vocab.build(tokenize(s, "zh") for s, _ in train)
    tgt_vocab = Vocab.build(tokenize(t, "en") for _, t in train)
    data = {"train": encode(train, src_vocab, tgt_vocab), "dev": encode(dev, src_vocab, tgt_vocab),
            "train_pairs": train, "dev_pairs": dev}
    name = args.run if args.run == "torch" else \
        f"ours(init={args.init},batches={args.batches}{',tied' if args.tie_output else ''})"
    name = args.label or name
    print(f"{name}: {len(train)} train pairs, {len(dev)} dev pairs, vocab {len(src_vocab)} zh / "
          f"{len(tgt_vocab)} en, threads {args.threads}", flush=True)

    def log(step, train_loss, dev_loss, seconds):
        row = {"run": name, "step": step, "train_loss": round(train_loss, 4),
               "dev_loss": round(dev_loss, 4), "seconds": round(seconds, 1)}
        print(json.dumps(row), flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(json.dumps(row) + "\n")

    (train_torch if args.run == "torch" else train_ours)(args, data, (src_vocab, tgt_vocab), log)


if __name__ == "__main__":
    main()
