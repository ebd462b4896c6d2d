"""Train a Chinese-to-English Transformer translator, evaluate it, and show what it learned.

    python examples/train_translate.py                      # the built-in corpus, about 6 minutes
    python examples/train_translate.py --data train.tsv --dev dev.tsv --time-limit 52 \
        --d-model 256 --d-ff 512 --batch-tokens 2000 --min-freq 2 --dropout 0.2   # Tatoeba (README)
    python examples/train_translate.py --resume runs/translate/last.npz

Writes to --out (default runs/translate): best.npz and last.npz (checkpoints,
written atomically), loss.png (training and validation loss), attention.png
(cross-attention per head for one sentence), and with --draw-graph
decoder_layer.svg (the computation graph of one decoder layer).
Then try it: python examples/translate.py --checkpoint runs/translate/best.npz "我有苹果。"

--out belongs to one run: a second run on it is refused while the first is
alive, and a new run in a folder holding another run's checkpoints is refused
unless you --resume it or ask to --overwrite it. Ctrl-C or SIGTERM stops at the
next step and saves last.npz (exit status 130 or 143); --resume from it, or
from any checkpoint left by a crash, continues exactly as if never stopped.
Bad options or data are one line on stderr and exit status 1.
"""
import argparse
import importlib.util
import pathlib
import signal
import sys
import time
import warnings

import numpy as np

import tinytensor as tt
from tinytransformer.translation import (DOC_EXAMPLES, ENGLISH_PROPER_NOUNS, FIXED_PHRASES,
                                         Interrupted, TrainConfig, Trainer, TrainingError,
                                         Translator, builtin_splits, format_samples,
                                         held_out_samples, read_tsv, score_translations,
                                         train_dev_split)
from tinytransformer.translation.runs import RunFolder
from tinytransformer.utils.checkpoint import CheckpointError, atomic_write

PROGRAM = "train_translate.py"

IDIOM_REPEATS = 50
DEFAULTS = TrainConfig().to_dict()


# --preset NAME: a recipe's settings; options given explicitly still override them.
PRESETS = {
    # Tatoeba-format pairs on a 2-core CPU within an hour (README, "The translator"): English
    # subwords, Chinese characters, the Transformer of issue 12's PyTorch baseline (d_model
    # 256, 4 heads, 3+3 layers, d_ff 1024) with dropout 0.2 (about 20 passes over 23k pairs),
    # stopped by the clock after 52 minutes, then the mean of the last 3 evaluations' weights
    # if it scores better on dev.
    "tatoeba": dict(d_model=256, n_heads=4, n_layers=3, d_ff=1024, dropout=0.2, batch_tokens=1500,
                    warmup=800, tokenizer="sentencepiece-en", subword_vocab=4000, steps=100_000,
                    eval_every=400, keep_checkpoints=3, average=3, time_limit=52.0),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="a recipe's settings (tatoeba: an hour on Tatoeba pairs); options "
                        "given explicitly override it")
    parser.add_argument("--data", help="training pairs, tab-separated English<TAB>Chinese[<TAB>...] "
                        "(Tatoeba/manythings format); default: the built-in corpus")
    parser.add_argument("--dev", help="dev pairs in the same format (default: 10%% of --data)")
    parser.add_argument("--src", default="zh", choices=["zh", "en"])
    parser.add_argument("--tgt", default="en", choices=["zh", "en"])
    parser.add_argument("--out", default="runs/translate", help="folder for checkpoints and pictures")
    parser.add_argument("--resume", metavar="CKPT", help="continue the run saved in this checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in an --out that holds another run's checkpoints "
                        "(they are deleted)")
    parser.add_argument("--d-model", type=int, default=DEFAULTS["d_model"])
    parser.add_argument("--heads", dest="n_heads", type=int, default=DEFAULTS["n_heads"])
    parser.add_argument("--layers", dest="n_layers", type=int, default=DEFAULTS["n_layers"])
    parser.add_argument("--d-ff", type=int, default=DEFAULTS["d_ff"])
    parser.add_argument("--dropout", type=float, default=DEFAULTS["dropout"])
    parser.add_argument("--tie-output", action=argparse.BooleanOptionalAction,
                        default=DEFAULTS["tie_output"],
                        help="the output layer reuses the target embedding (section 3.4)")
    parser.add_argument("--batch-tokens", type=int, default=DEFAULTS["batch_tokens"],
                        help="about this many (padded) tokens per batch")
    parser.add_argument("--warmup", type=int, default=DEFAULTS["warmup"])
    parser.add_argument("--lr-factor", type=float, default=DEFAULTS["lr_factor"])
    parser.add_argument("--label-smoothing", type=float, default=DEFAULTS["label_smoothing"])
    parser.add_argument("--clip", type=float, default=DEFAULTS["clip"], help="max gradient norm")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--eval-every", type=int, default=DEFAULTS["eval_every"])
    parser.add_argument("--min-freq", type=int, default=DEFAULTS["min_freq"])
    parser.add_argument("--tokenizer", choices=["words", "sentencepiece-en", "sentencepiece"],
                        help="words: Chinese characters, English lower-cased words (default for "
                        "the built-in corpus); sentencepiece-en: English subwords (default for "
                        "--data); sentencepiece: subwords on both sides")
    parser.add_argument("--subword-vocab", type=int, default=DEFAULTS["subword_vocab"],
                        help="pieces per SentencePiece model")
    parser.add_argument("--keep-checkpoints", type=int, default=DEFAULTS["keep_checkpoints"],
                        help="keep the weights of the last N evaluations (step-*.npz)")
    parser.add_argument("--average", type=int, default=0, metavar="N",
                        help="at the end, average the last N evaluations' weights into "
                        "averaged.npz (keeps N checkpoints) and use it if its dev BLEU is higher")
    parser.add_argument("--test", metavar="FILE",
                        help="score the final model on these pairs (default: the dev pairs, or "
                        "the built-in test split)")
    parser.add_argument("--max-len", type=int, default=DEFAULTS["max_len"])
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--device", default=DEFAULTS["device"], help="cpu or cuda")
    parser.add_argument("--beam", type=int, default=4, help="beam size for the final evaluation")
    parser.add_argument("--time-limit", type=float, help="stop training after this many minutes")
    parser.add_argument("--init-embeddings", metavar="VECTORS",
                        help="word2vec text file whose vectors fill matching target-embedding rows")
    parser.add_argument("--draw-graph", action="store_true",
                        help="write the computation graph of one decoder layer (decoder_layer.svg)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-plots", action="store_true", help="draw no pictures")
    preset = parser.parse_known_args(argv)[0].preset
    if preset:
        parser.set_defaults(**PRESETS[preset])
    args = parser.parse_args(argv)
    if args.src == args.tgt:
        parser.error("--src and --tgt must differ")
    if preset and args.data is None:
        parser.error(f"--preset {preset} trains on your pairs: give --data (and --dev)")
    if args.tokenizer is None:
        args.tokenizer = "words" if args.data is None else "sentencepiece-en"
    if args.average:
        args.keep_checkpoints = max(args.keep_checkpoints, args.average)
    return args


def read_pairs(option, path, args):
    pairs = read_tsv(path, args.src, args.tgt)
    if not pairs:
        raise TrainingError(f"{option} {path} holds no sentence pairs (expected UTF-8 lines "
                            "English<TAB>Chinese)")
    return pairs


def load_data(args):
    """{"train", "dev", "test"} lists of (source, target) pairs."""
    data = _load_training_data(args)
    if args.test:
        data["test"] = read_pairs("--test", args.test, args)
    return data


def _load_training_data(args):
    if args.data is None:
        splits = builtin_splits(args.seed)
        # Set phrases such as 好久不见 follow no grammar rule and occur once among 5000
        # sentences: repeat them, as a learner repeats idioms, so the model memorizes them.
        splits["train"] = splits["train"] + (DOC_EXAMPLES + FIXED_PHRASES) * IDIOM_REPEATS
        if (args.src, args.tgt) != ("zh", "en"):
            return {k: [(en, zh) for zh, en in v] for k, v in splits.items()}
        return splits
    train = read_pairs("--data", args.data, args)
    if args.dev:
        dev = read_pairs("--dev", args.dev, args)
    else:
        train, dev = train_dev_split(train, 0.1, seed=args.seed)
        if not dev or not train:
            raise TrainingError(f"--data {args.data} has only {len(train) + len(dev)} pairs, too "
                                "few to hold out a tenth as the dev set: give --dev, or more data")
    return {"train": train, "dev": dev, "test": dev}


def init_embeddings(trainer, path):
    """Copy word2vec vectors into the target embedding rows of matching words."""
    from tinytransformer.word2vec import KeyedVectors
    vectors = KeyedVectors.load_word2vec_format(path, binary=str(path).endswith(".bin"))
    embedding = trainer.model.tgt_embed.weight
    if vectors.vector_size != embedding.shape[1]:
        raise TrainingError(f"--init-embeddings: vectors have {vectors.vector_size} dimensions "
                            f"but the model's d_model is {embedding.shape[1]}")
    vocab = trainer.translator.tgt_vocab
    rows = [(i, word) for i, word in enumerate(vocab.itos) if word in vectors]
    if rows:
        ids = np.array([i for i, _ in rows])
        new = tt.tensor(vectors[[word for _, word in rows]], dtype=embedding.dtype)
        with tt.no_grad():   # row := new, written as row += new - row
            embedding.index_add_(0, ids, new - tt.nn.functional.embedding(ids, embedding))
    print(f"--init-embeddings: {len(rows)} of {len(vocab)} target words start from {path}")


def plot_losses(state, path):
    """Training and validation loss over steps, and dev BLEU on a second axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps, losses = zip(*state["train_loss"])
    fig, ax = plt.subplots(figsize=(7.5, 4))
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    lines = ax.plot(steps[window - 1:], smooth, label="training loss (label-smoothed, running mean)")
    if state["val"]:
        val_steps, val_losses, val_bleu = zip(*state["val"])
        lines += ax.plot(val_steps, val_losses, "o-", label="dev loss")
        bleu_axis = ax.twinx()
        lines += bleu_axis.plot(val_steps, val_bleu, "s--", color="tab:green",
                                label="dev BLEU (greedy)")
        bleu_axis.set_ylabel("BLEU")
        bleu_axis.set_ylim(0, max(max(val_bleu) * 1.1, 1))
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy per token")
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


# Fonts that hold Chinese characters, by family name (matplotlib's default, DejaVu Sans, does not).
CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Noto Sans CJK JP", "Source Han Sans SC",
             "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
             "Heiti SC", "Hiragino Sans GB", "AR PL UMing CN", "Droid Sans Fallback")


def cjk_font():
    """The name of an installed font with Chinese characters, or None."""
    from matplotlib import font_manager
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def plot_attention(translator, sentence, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    src_tokens, out_tokens, weights = translator.cross_attention(sentence)
    font = cjk_font()
    title = sentence
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    else:
        print("note: no CJK font is installed, so attention.png writes Chinese characters as "
              "code points (install one: apt install fonts-noto-cjk, or fonts-wqy-microhei)")
        src_tokens = [t if t.isascii() else " ".join(f"U+{ord(c):04X}" for c in t)
                      for t in src_tokens]
        title = " ".join(src_tokens)
    heads = weights.shape[0]
    fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads, 3.4), squeeze=False)
    for h, ax in enumerate(axes[0]):
        ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(src_tokens)))
        ax.set_xticklabels(src_tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(out_tokens)))
        ax.set_yticklabels(out_tokens, fontsize=8)
        ax.set_title(f"head {h}")
    fig.suptitle(f"cross-attention, last decoder layer: {title}")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)


def draw_decoder_layer(trainer, path):
    """The graph of one decoder layer on a short sentence, with named inputs."""
    layer = trainer.model.decoder.layers[0]
    d = trainer.model.d_model
    x = tt.randn(1, 3, d, requires_grad=True)
    x.name = "target vectors"
    memory = tt.randn(1, 4, d, requires_grad=True)
    memory.name = "encoder output (memory)"
    for name, p in layer.named_parameters():
        p.name = name
    out = layer(x, memory)
    out.name = "decoder layer output"
    tt.save_graph(out, path)


def fail(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)
    return 1


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop (which handles it itself)."""


def on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None):
    args = parse_args(argv)
    # Warnings (say, skipped lines of a data file) as one line each, like the errors.
    show_warning = warnings.showwarning
    warnings.showwarning = lambda message, *_, **__: print(f"{PROGRAM}: warning: {message}",
                                                           file=sys.stderr, flush=True)
    try:
        return run_main(args)
    finally:
        warnings.showwarning = show_warning


def run_main(args):
    """train(), with every expected failure as one line and an exit status."""
    try:
        return train(args)
    except Interrupted as stop:          # the loop stopped at a step boundary and saved
        print(f"\n{stop}", flush=True)
        return stop.exit_code
    except Terminated:
        fail("terminated by SIGTERM")
        return 143
    except KeyboardInterrupt:
        fail("interrupted")
        return 130
    except (TrainingError, CheckpointError) as error:
        return fail(error)
    except OSError as error:             # a file that cannot be read, a full disk, ...
        where = f" ({error.filename})" if error.filename else ""
        return fail(f"{error.strerror or error}{where}")


def check_options(args):
    """The options the TrainConfig does not check; then the config itself."""
    if args.beam < 1:
        raise TrainingError(f"--beam must be at least 1, got {args.beam}")
    if args.time_limit is not None and not args.time_limit > 0:
        raise TrainingError(f"--time-limit must be a positive number of minutes, got {args.time_limit}")
    if args.resume and not pathlib.Path(args.resume).is_file():
        raise TrainingError(f"--resume {args.resume}: no such checkpoint file")
    try:
        return TrainConfig(**{k: getattr(args, k) for k in DEFAULTS})
    except ValueError as error:
        raise TrainingError(str(error).replace("TrainConfig: ", "option ")) from None


def train(args):
    config = check_options(args)
    with RunFolder(args.out) as out:             # refused if another run is using it
        data = load_data(args)
        print(f"data: {len(data['train'])} training, {len(data['dev'])} dev, {len(data['test'])} "
              f"test pairs ({args.src} -> {args.tgt}"
              f"{', built-in corpus' if args.data is None else ''})")
        if args.resume:
            overrides = {"steps": args.steps, "eval_every": args.eval_every, "device": args.device,
                         "keep_checkpoints": args.keep_checkpoints}
            trainer = Trainer.resume(args.resume, data, overrides)
            print(f"resuming {args.resume} at step {trainer.state['step']}")
        else:
            # The built-in corpus knows its names; for other data the Trainer finds them.
            proper_nouns = ENGLISH_PROPER_NOUNS if args.data is None else None
            trainer = Trainer(data, config, args.src, args.tgt, proper_nouns=proper_nouns)
        trainer.claim(out, overwrite=args.overwrite)   # no other run's checkpoints in --out
        for part, count in trainer.skipped.items():
            if count:
                print(f"note: {count} {part} pairs are longer than --max-len {trainer.config.max_len}"
                      " tokens and are left out")
        if args.init_embeddings and not args.resume:
            init_embeddings(trainer, args.init_embeddings)
        t = trainer.translator
        print(f"model: {trainer.model.num_parameters():,} parameters, vocabularies "
              f"{len(t.src_vocab)} ({args.src}) and {len(t.tgt_vocab)} ({args.tgt})", flush=True)
        plots = not args.no_plots and importlib.util.find_spec("matplotlib") is not None
        if not plots and not args.no_plots:
            print("note: matplotlib is not installed, so no pictures are drawn")
        if args.draw_graph:
            draw_decoder_layer(trainer, out / "decoder_layer.svg")
            print(f"wrote {out / 'decoder_layer.svg'}")

        start = time.perf_counter()
        state = trainer.run(out, progress=not args.no_progress,
                            time_limit=args.time_limit * 60 if args.time_limit else None,
                            on_eval=(lambda tr: plot_losses(tr.state, out / "loss.png")) if plots else None)
        print(f"trained {state['step']} steps in {time.perf_counter() - start:.0f} s "
              f"(this session); best dev BLEU {state['best_bleu']:.1f}")
        report(args, trainer, data, out, plots)
    return 0


def choose_final(args, trainer, out):
    """(path, Translator) of best.npz, or of averaged.npz (the mean of the last --average
    evaluations' weights) when its dev BLEU is higher: chosen on dev, so the test set stays
    unseen."""
    best_path = out / "best.npz" if (out / "best.npz").exists() else out / "last.npz"
    if args.average:
        averaged_path = trainer.average(out, args.average)
        if averaged_path is None:
            print("--average: fewer than two evaluated checkpoints to average")
        else:
            trainer.translator, _ = Translator.load(averaged_path)
            averaged_bleu, best_bleu = trainer.bleu(trainer.dev_pairs), trainer.state["best_bleu"]
            better = averaged_bleu > best_bleu
            print(f"{averaged_path.name} (mean of the last {args.average} evaluations): dev BLEU "
                  f"{averaged_bleu:.1f}, best.npz {best_bleu:.1f}: testing "
                  f"{(averaged_path if better else best_path).name}")
            if better:
                return averaged_path, trainer.translator
    return best_path, Translator.load(best_path)[0]


def report(args, trainer, data, out, plots):
    """Test BLEU and chrF of the final model (with sacreBLEU signatures), sample
    translations, pictures."""
    final_path, final = choose_final(args, trainer, out)
    test = data["test"]
    sources, references = [s for s, _ in test], [t for _, t in test]
    what = args.test or ("the dev pairs" if args.data else "the built-in test split")
    print(f"\ntest scores of {final_path.name} on {len(test)} pairs ({what}):")
    for beam in (1, args.beam) if args.beam > 1 else (1,):
        translations = final.translate(sources, beam, on_long=lambda *_: None)
        scores = score_translations(translations, references, args.tgt)
        print(f"{'greedy' if beam == 1 else f'beam {beam}'}: {scores.format()}")

    samples = held_out_samples(6, args.seed) if args.data is None else test[:10]
    if args.data is None and (args.src, args.tgt) == ("zh", "en"):
        samples = DOC_EXAMPLES + samples
    print("\nsample translations (greedy)"
          f"{' (the docs examples, then held-out sentences)' if args.data is None else ''}:")
    print(format_samples([s for s, _ in samples], final.translate([s for s, _ in samples]),
                         [t for _, t in samples]))

    if not plots:
        return
    plot_losses(trainer.state, out / "loss.png")
    example = samples[0][0]
    if all(tok in final.src_vocab for tok in final.src_tokenizer.tokenize(example)):
        plot_attention(final, example, out / "attention.png")
    print(f"\nwrote {final_path}, {out / 'last.npz'}, {out / 'loss.png'}, {out / 'attention.png'}")
    print(f'try: python examples/translate.py --checkpoint {final_path} "{example}"')


if __name__ == "__main__":
    # SIGTERM (kill, timeout, a batch scheduler) ends the program as Ctrl-C does: outside the
    # training loop at once, inside it at the next step, after saving (the loop's own handler).
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        sys.exit(main())
    except Terminated:              # after main() returned, before the program ended
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)
