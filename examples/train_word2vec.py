"""Train Word2Vec (the package tinytransformer.word2vec, on tinytensor) and look at the vectors.

    python examples/train_word2vec.py                      # the built-in corpus, English side
    python examples/train_word2vec.py --lang zh            # ... or its Chinese side
    python examples/train_word2vec.py --corpus text8 --sg 1 --workers 2 \\
        --analogies questions-words.txt --pairs wordsim353.tsv

Without --corpus it trains on the English (or Chinese) side of the translation
corpus that tinytransformer.translation generates (30,000 sentences by default, a
few seconds to train). With --corpus FILE it reads any plain-text file, one
sentence per line, streaming it every epoch.

It prints the nearest neighbours of a few words, the analogy accuracy and the
word-similarity correlation when given --analogies / --pairs files (the formats
of gensim's questions-words.txt and wordsim353.tsv), saves the vectors in the
word2vec text and binary formats (and, with --save-model, the whole model to
continue training), and plots a 2-D PCA projection of chosen words as a PNG.
"""
import argparse
import io
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinytransformer.utils import atomic_write  # noqa: E402
from tinytransformer.word2vec import Word2Vec  # noqa: E402

# Words of the built-in corpus, by theme: nearest neighbours and the plot.
BUILTIN_WORDS = {
    "en": {"animals": ["cat", "dog", "horse", "bird", "rabbit", "fish"],
           "fruit": ["apple", "banana", "pear", "orange", "watermelon"],
           "people": ["teacher", "doctor", "nurse", "farmer", "engineer", "driver"],
           "cities": ["beijing", "shanghai", "london"],
           "time": ["yesterday", "tomorrow", "today", "week", "morning", "night"],
           "eat": ["eat", "eats", "ate", "drink", "drank"]},
    "zh": {"people": ["我", "你", "他", "她"],
           "time": ["昨", "明", "今", "早", "晚"],
           "numbers": ["一", "两", "三", "四", "五"],
           "family": ["爸", "妈", "哥", "姐"]},
}
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Arial Unicode MS"]


def builtin_sentences(lang, count, seed):
    """The English or Chinese side of the generated translation corpus, tokenized."""
    from tinytransformer.translation import generate_corpus, tokenize_en, tokenize_zh
    pairs = generate_corpus(seed, count)
    if lang == "en":
        return [tokenize_en(en) for _, en in pairs]
    return [tokenize_zh(zh) for zh, _ in pairs]


def pca_2d(vectors):
    """The first two principal components of the rows of `vectors`."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_words(kv, groups, path):
    """Scatter the 2-D PCA projection of the words' unit vectors, coloured by group,
    and write the PNG atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [name for name in CJK_FONTS if name in available]
    if cjk:
        plt.rcParams["font.sans-serif"] = cjk + plt.rcParams["font.sans-serif"]
    words = [w for group in groups.values() for w in group]
    points = pca_2d(np.stack([kv.get_vector(w, norm=True) for w in words]))
    fig, ax = plt.subplots(figsize=(8, 6))
    start = 0
    for name, group in groups.items():
        xy = points[start:start + len(group)]
        ax.scatter(xy[:, 0], xy[:, 1], label=name)
        for word, (x, y) in zip(group, xy):
            ax.annotate(word, (x, y), xytext=(3, 3), textcoords="offset points")
        start += len(group)
    ax.legend()
    ax.set_title("Word2Vec: 2-D PCA projection of unit word vectors")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def choose_groups(kv, lang, words, use_builtin):
    """Groups of in-vocabulary words to show: --words, the built-in themes, or
    (for another corpus) a few frequent words past the most common ones."""
    if words:
        return {"words": [w for w in words if w in kv]}
    if use_builtin:
        groups = {name: [w for w in group if w in kv]
                  for name, group in BUILTIN_WORDS[lang].items()}
        return {name: group for name, group in groups.items() if group}
    return {"words": kv.index_to_key[50:50 + 12]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="plain-text corpus, one sentence per line "
                        "(default: the built-in corpus)")
    parser.add_argument("--lang", choices=["en", "zh"], default="en",
                        help="side of the built-in corpus to train on")
    parser.add_argument("--sentences", type=int, default=30000,
                        help="sentences of the built-in corpus to generate")
    parser.add_argument("--sg", type=int, choices=[0, 1], default=1, help="1 skip-gram, 0 CBOW")
    parser.add_argument("--vector-size", type=int, default=100)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--negative", type=int, default=5)
    parser.add_argument("--sample", type=float, default=1e-3)
    parser.add_argument("--alpha", type=float, default=0.025)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, help="centre words per step")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (CPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--words", nargs="*", help="words to show (neighbours and plot)")
    parser.add_argument("--analogies", help="analogy questions (questions-words.txt format)")
    parser.add_argument("--pairs", help="word pairs with similarity scores (wordsim353 format)")
    parser.add_argument("--restrict-vocab", type=int, default=30000,
                        help="analogies: only the most frequent words")
    parser.add_argument("--out", default="word2vec_out", help="directory for the outputs")
    parser.add_argument("--save-model", action="store_true",
                        help="also save the whole model (to continue training)")
    args = parser.parse_args()

    settings = dict(sg=args.sg, vector_size=args.vector_size, window=args.window,
                    min_count=args.min_count, negative=args.negative, sample=args.sample,
                    alpha=args.alpha, epochs=args.epochs, batch_size=args.batch_size,
                    workers=args.workers, device=args.device, seed=args.seed)
    if args.corpus:
        print(f"training on {args.corpus}")
        model = Word2Vec(corpus_file=args.corpus, **settings)
    else:
        sentences = builtin_sentences(args.lang, args.sentences, args.seed)
        words = sum(len(s) for s in sentences)
        print(f"training on the built-in corpus ({args.lang}): {len(sentences)} sentences, "
              f"{words} words")
        model = Word2Vec(sentences, **settings)
    kv = model.wv
    print(f"{len(kv)} words in the vocabulary; {model.words_per_second:,.0f} words/s; "
          f"mean loss per example by epoch: {', '.join(f'{x:.3f}' for x in model.epoch_losses)}")

    groups = choose_groups(kv, args.lang, args.words, args.corpus is None)
    print("\nnearest neighbours:")
    for group in groups.values():
        for word in group[:2] if len(groups) > 1 else group:
            neighbours = ", ".join(f"{w} {s:.2f}" for w, s in kv.most_similar(word, topn=6))
            print(f"  {word:>12}: {neighbours}")
    if args.analogies:
        score, sections = kv.evaluate_word_analogies(args.analogies,
                                                      restrict_vocab=args.restrict_vocab)
        answered = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
        print(f"\nanalogies (3CosAdd, restrict_vocab={args.restrict_vocab}): {100 * score:.2f}% "
              f"of {answered} questions")
    if args.pairs:
        (pearson, _), (spearman, _), oov = kv.evaluate_word_pairs(args.pairs)
        print(f"word pairs: Spearman {spearman:.3f}, Pearson {pearson:.3f} "
              f"({oov:.1f}% of the pairs have an unknown word)")

    os.makedirs(args.out, exist_ok=True)
    kv.save_word2vec_format(os.path.join(args.out, "vectors.txt"))
    kv.save_word2vec_format(os.path.join(args.out, "vectors.bin"), binary=True)
    print(f"\nvectors saved to {args.out}/vectors.txt and vectors.bin (word2vec formats)")
    if args.save_model:
        model.save(os.path.join(args.out, "model.npz"))
        print(f"model saved to {args.out}/model.npz (Word2Vec.load to continue training)")
    shown = sum(len(g) for g in groups.values())
    if shown >= 3:
        try:
            plot_words(kv, groups, os.path.join(args.out, "pca.png"))
            print(f"PCA plot of {shown} words saved to {args.out}/pca.png")
        except ImportError:
            print('matplotlib is not installed: no plot (pip install "tinytransformer[examples]")')


if __name__ == "__main__":
    main()
