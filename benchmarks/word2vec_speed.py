"""Word2Vec speed and quality: tinytransformer.word2vec against gensim, same corpus, same run.

    python benchmarks/word2vec_speed.py [CORPUS] [--workers 2] [--modes cbow,sg] [--rounds 5] [--no-gensim]

CORPUS defaults to ../shared/data/text8-2M/text8_2M.txt (the first 2.14M words of
text8; not part of the repository). Settings (issue 5): vector_size 100, window 5,
negative 5, sample 1e-3, min_count 5, 5 epochs, the same number of workers for both.

For CBOW and skip-gram, prints for each implementation: the vocabulary and
training times, training words/s (corpus words x epochs / training seconds, as
gensim counts them), analogy accuracy (3CosAdd on questions-words.txt,
restrict_vocab 30000) and WordSim-353 Spearman correlation, then our/gensim
ratios. The evaluation files come from gensim's wheel (gensim/test/test_data)
unless --analogies/--pairs name others. Both implementations are scored by
the same code (ours; it gives the same results as gensim's evaluate_word_*).

The two implementations alternate for --rounds rounds, round r with seed
seed + r for both: words/s is the median over the rounds, analogy accuracy
and WordSim the mean over the seeds (one seed's scores vary by about 0.3
points and 0.015). The machine is shared and timings are noisy: compare the
two implementations within one run, not across runs. --json FILE saves the
figures.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread per worker process
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from tinytransformer.utils import atomic_write  # noqa: E402
from tinytransformer.word2vec import KeyedVectors, Word2Vec  # noqa: E402

DEFAULT_CORPUS = os.path.join(ROOT, "..", "shared", "data", "text8-2M", "text8_2M.txt")
SETTINGS = dict(vector_size=100, window=5, negative=5, sample=1e-3, min_count=5, epochs=5,
                alpha=0.025, min_alpha=1e-4)
OVERRIDES = {}       # --set NAME=VALUE: settings of ours only


def gensim_test_file(name):
    try:
        import gensim
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data", name)
    return path if os.path.exists(path) else None


def evaluate(kv, analogies, pairs, restrict_vocab):
    result = {}
    if analogies:
        result["analogy"] = kv.evaluate_word_analogies(analogies, restrict_vocab=restrict_vocab)[0]
    if pairs:
        result["wordsim"] = kv.evaluate_word_pairs(pairs)[1][0]
    return result


def run_ours(corpus, sg, workers, seed, batch_size=None):
    extra = {} if batch_size is None else dict(batch_size=batch_size)
    extra.update(OVERRIDES)
    model = Word2Vec(sg=sg, workers=workers, seed=seed, progress=True, **SETTINGS, **extra)
    start = time.perf_counter()
    model.build_vocab(corpus_file=corpus)
    vocab_seconds = time.perf_counter() - start
    model.train(corpus_file=corpus)
    return model.wv, dict(vocab_seconds=vocab_seconds, train_seconds=model.train_seconds,
                          words=model.vocab.total, vocabulary=len(model.vocab),
                          epoch_losses=model.epoch_losses)


def run_gensim(corpus, sg, workers, seed):
    from gensim.models import Word2Vec as GensimWord2Vec
    from gensim.models.word2vec import LineSentence
    model = GensimWord2Vec(sg=sg, workers=workers, seed=seed,
                           **{k: v for k, v in SETTINGS.items() if k != "epochs"})
    sentences = LineSentence(corpus)
    start = time.perf_counter()
    model.build_vocab(sentences)
    vocab_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=SETTINGS["epochs"])
    train_seconds = time.perf_counter() - start
    kv = KeyedVectors(model.wv.vectors, model.wv.index_to_key)
    return kv, dict(vocab_seconds=vocab_seconds, train_seconds=train_seconds,
                    words=model.corpus_total_words, vocabulary=len(model.wv))


def summary(mode, implementation, infos):
    """One row for the runs of one implementation: the median words/s and train time,
    the mean analogy accuracy and WordSim (over the seeds), and every run's figures."""
    row = dict(mode=mode, implementation=implementation, runs=len(infos),
               vocabulary=infos[0]["vocabulary"], words=infos[0]["words"],
               vocab_seconds=float(np.median([i["vocab_seconds"] for i in infos])),
               train_seconds=float(np.median([i["train_seconds"] for i in infos])),
               words_per_second=float(np.median([i["words_per_second"] for i in infos])),
               per_run=[{k: v for k, v in i.items() if k != "epoch_losses"} for i in infos])
    for key in ("analogy", "wordsim"):
        if key in infos[0]:
            row[key] = float(np.mean([i[key] for i in infos]))
    return row


def quality_difference(ours, theirs, key):
    """(ours minus theirs, its standard error) for the mean of a quality figure over
    the rounds' seeds. Each library draws its own numbers from a seed, so the rounds
    are not pairs: the error is sqrt(s_ours^2 / n_ours + s_theirs^2 / n_theirs), from
    each side's seed-to-seed spread (NaN with fewer than two rounds a side)."""
    a = np.array([r[key] for r in ours["per_run"]])
    b = np.array([r[key] for r in theirs["per_run"]])
    error = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))) \
        if len(a) > 1 and len(b) > 1 else float("nan")
    return float(a.mean() - b.mean()), error


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS)
    parser.add_argument("--modes", default="cbow,sg", help="comma-separated: cbow, sg")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--analogies", default=gensim_test_file("questions-words.txt"))
    parser.add_argument("--pairs", default=gensim_test_file("wordsim353.tsv"))
    parser.add_argument("--restrict-vocab", type=int, default=30000)
    parser.add_argument("--no-gensim", action="store_true", help="time only tinytransformer")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"],
                        help="passes over the corpus (5 as the README's figures; 1 to iterate fast)")
    parser.add_argument("--batch-size", type=int, help="centre words per step (ours only)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating runs of each implementation (seeds seed, seed+1, ...): "
                             "words/s is their median, analogy and WordSim their mean")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Word2Vec setting for ours only, e.g. --set row_cap=2 (repeatable)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    SETTINGS["epochs"] = args.epochs
    for item in args.set:
        name, _, value = item.partition("=")
        try:
            OVERRIDES[name] = float(value)
        except ValueError:
            parser.error(f"--set {item!r}: expected NAME=NUMBER, e.g. --set row_cap=2")
    if not os.path.exists(args.corpus):
        sys.exit(f"corpus not found: {args.corpus} (pass the path of a plain-text corpus)")
    have_gensim = False
    if not args.no_gensim:
        try:
            import gensim  # noqa: F401
            have_gensim = True
        except ImportError:
            print("gensim is not installed: timing tinytransformer only")

    print(f"corpus {args.corpus}; {SETTINGS}; workers {args.workers}; rounds {args.rounds}; "
          f"analogies restrict_vocab {args.restrict_vocab}; threads "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    rows = []
    for mode in args.modes.split(","):
        sg = {"cbow": 0, "sg": 1}[mode.strip()]
        implementations = [("tinytransformer", run_ours)]
        if have_gensim:
            implementations.append(("gensim", run_gensim))
        runs = {name: [] for name, _ in implementations}
        # the implementations alternate, round by round, each round with its own seed (the
        # same for both), so load changes hit both alike and quality is compared over seeds
        for round_ in range(args.rounds):
            seed = args.seed + round_
            for name, run in implementations:
                print(f"\n== {mode} / {name} / round {round_ + 1} of {args.rounds}, seed {seed}",
                      flush=True)
                if name == "gensim":
                    kv, info = run(args.corpus, sg, args.workers, seed)
                else:
                    kv, info = run(args.corpus, sg, args.workers, seed, args.batch_size)
                info.update(evaluate(kv, args.analogies, args.pairs, args.restrict_vocab))
                info.update(seed=seed, words_per_second=info["words"] * SETTINGS["epochs"]
                            / info["train_seconds"])
                runs[name].append(info)
                print({k: v for k, v in info.items() if k != "epoch_losses"}, flush=True)
        for name, infos in runs.items():
            rows.append(summary(mode.strip(), name, infos))

    print("\nmedians of words/s and train s, means of analogy and WordSim over the rounds' seeds")
    print("mode  implementation   vocab  vocab s  train s    words/s  analogy  wordsim353")
    for r in rows:
        print(f"{r['mode']:5} {r['implementation']:15} {r['vocabulary']:6} {r['vocab_seconds']:8.1f} "
              f"{r['train_seconds']:8.1f} {r['words_per_second']:10.0f} "
              f"{100 * r.get('analogy', float('nan')):7.2f}% {r.get('wordsim', float('nan')):10.3f}")
    for mode in args.modes.split(","):
        ours = [r for r in rows if r["mode"] == mode.strip() and r["implementation"] != "gensim"]
        theirs = [r for r in rows if r["mode"] == mode.strip() and r["implementation"] == "gensim"]
        if ours and theirs:
            o, g = ours[0], theirs[0]
            target = 0.5 if mode.strip() == "cbow" else 0.75       # issue 11
            o["vs_gensim"] = {key: quality_difference(o, g, key)
                              for key in ("analogy", "wordsim") if key in o and key in g}
            analogy, wordsim = (o["vs_gensim"].get(key, (float("nan"),) * 2)
                                for key in ("analogy", "wordsim"))
            print(f"{mode}: words/s ratio {o['words_per_second'] / g['words_per_second']:.2f}x "
                  f"(target >= {target}x); analogy {100 * analogy[0]:+.2f} +- "
                  f"{100 * analogy[1]:.2f} points (target >= 0); wordsim353 "
                  f"{wordsim[0]:+.3f} +- {wordsim[1]:.3f} (target >= 0)")
    print("(+- one standard error of the difference over the seeds; timings on a shared machine "
          "are noisy: compare within one run)")
    if args.json:
        atomic_write(args.json, lambda f: json.dump(rows, f, indent=1), mode="w")


if __name__ == "__main__":
    main()
