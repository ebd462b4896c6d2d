# %% [markdown]
# # Step 5. Word vectors: CBOW and skip-gram on the built-in corpus
#
# **What you will see:** the loss of one CBOW example worked out with tinytensor operations
# (sigmoid, dot products with the true word and 5 noise words) and checked against the
# library's `cbow_loss`, before and after training; CBOW and skip-gram trained on the English
# side of the built-in corpus (and CBOW on the Chinese characters); the nearest neighbours of
# a few words; an analogy, run : ran = sell : sold, found by vector arithmetic; and a PCA
# picture of the vectors (`05_word_vectors.png`). About 10 seconds on a laptop CPU.
#
# In the notes' words (六 Word2Vec): Word2Vec does not train a model for a task, it compiles
# a dictionary (编词典): the embedding matrix W (嵌入矩阵) that maps each token into the
# latent space (潜空间). It is trained like a cloze test (完形填空), self-supervised
# (自监督学习: the program blanks out words itself, nobody labels anything), in one of two
# ways (Mikolov et al. 2013, "Efficient Estimation of Word Representations in Vector Space"):
#
# * **CBOW** (continuous bag of words): take a window of 5 tokens, take out the middle one,
#   and predict it from the remaining four, whose vectors are combined into one (the notes'
#   力的合成, composing forces: the notes add them; word2vec.c and gensim take their mean).
# * **Skip-gram**: the opposite (正相反): one word and a word of its window, one pair at a time.
#
# Scoring every word of the vocabulary with a softmax for every example is expensive, so both
# are trained with *negative sampling* (Mikolov et al. 2013, "Distributed Representations of
# Words and Phrases and their Compositionality"): tell the true word apart from k noise words.

# %%
import itertools
import os
import pathlib
import sys
import time

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import tinytensor as tt
from tinytransformer.translation import generate_corpus, tokenize_en, tokenize_zh
from tinytransformer.word2vec import Word2Vec, cbow_loss, noise_distribution, skipgram_loss

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("TINY_QUICK") == "1"       # a smaller corpus, for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## The corpus: the English side of the built-in translation corpus
# `generate_corpus` makes Chinese-English sentence pairs from a small grammar (the corpus the
# Transformer of step 7 learns to translate). It starts with the notes' 好久不见 -> "long
# time no see". `tokenize_en` lowercases and splits off punctuation.

# %%
n_sentences = 15000 if QUICK else 30000
pairs = generate_corpus(0, n_sentences)
english = [tokenize_en(en) for _, en in pairs]
print(f"{len(english)} sentences, {sum(map(len, english))} words, for example:")
for zh, en in pairs[:1] + pairs[40:42]:
    print(f"  {zh}  ->  {tokenize_en(en)}")

# %% [markdown]
# ## Two tables of vectors, and the loss of one example
# Word2Vec learns two matrices (the notes' W and W'): the *input* vectors W, which are the
# word vectors we keep, and the *output* vectors W' that words are predicted with. For one
# CBOW example with context words c_1..c_4 and the true middle word o:
#
#     h = mean(W[c_1], ..., W[c_4])                       the combined context vector
#     loss = -log sigmoid(h . W'[o]) - sum_k log sigmoid(-h . W'[n_k])
#
# with k = 5 noise words n_k drawn from the word counts raised to the power 0.75. The first
# term wants the true word's score h . W'[o] high, the others want the noise words' low.
#
# `build_vocab` counts the words and starts the vectors as gensim does: W small and
# random, W' all zero. So before training every score is 0, every sigmoid is 1/2, and the
# loss of any example is, by hand, (1 + 5) ln 2 = 4.1588...

# %%
SETTINGS = dict(vector_size=50, window=3, min_count=3, negative=5, alpha=0.05, epochs=5,
                seed=1, progress=False)
cbow = Word2Vec(sg=0, **SETTINGS)
cbow.build_vocab(english)
kv_index = cbow.wv.get_index      # word -> its row of W and W'
word_of = cbow.wv.index_to_key    # row -> word
print(cbow)

sentence = tokenize_en("She bought these watermelons last year.")
middle = 3                                         # 5 tokens around "watermelons"
context, target = sentence[middle - 2:middle] + sentence[middle + 1:middle + 3], sentence[middle]
noise_p = noise_distribution(cbow.wv.counts)      # P(w) = count(w)^0.75 / sum
noise_p[kv_index(target)] = 0                      # word2vec.c skips the true word itself
noise = list(np.random.default_rng(0).choice(len(noise_p), size=5, p=noise_p / noise_p.sum()))
print("context:", context, " middle word:", target,
      " noise words:", [word_of[i] for i in noise])


def rows(table, ids):
    """Rows of a vector table as a new tensor (outside the model)."""
    return tt.tensor(table.numpy()[ids])


def loss_by_hand(h, u_true, u_noise):
    """The negative-sampling loss, written out: sigmoids of dot products."""
    positive = (h * u_true).sum()                          # the true word's score
    negative = tt.matmul(u_noise, h)                       # (k,) the noise words' scores
    return -tt.log(tt.sigmoid(positive)) - tt.log(tt.sigmoid(-negative)).sum()


def one_cbow_example(model):
    """The example's loss by hand and from cbow_loss (laid out as a batch of one)."""
    W, W_out = model.model.input_vectors, model.model.output_vectors
    x = rows(W, [kv_index(w) for w in context])                    # (4, d)
    u_true, u_noise = rows(W_out, [kv_index(target)]), rows(W_out, noise)
    hand = loss_by_hand(x.mean(dim=0), u_true[0], u_noise)
    # cbow_loss takes blocks of N x G centre words; here N = G = 1, 4 context positions
    library = cbow_loss(x.reshape(1, 4, -1), np.full((1, 1, 4), 1 / 4, np.float32),
                        u_true.reshape(1, 1, -1), u_noise.reshape(1, 5, -1),
                        np.ones((1, 1), np.float32), np.ones((1, 1, 5), np.float32))
    return hand, library


hand, library = one_cbow_example(cbow)
check("CBOW loss of one example before training", hand.item(), 6 * np.log(2), tol=1e-6)
check("cbow_loss of the same example", library.item(), hand.item(), tol=1e-6)

# %% [markdown]
# ## Training CBOW, then the same example again
# `train` runs 5 epochs of stochastic gradient descent over the corpus (a batch of centre
# words at a time, see `tinytransformer/word2vec/trainer.py`). Afterwards the true middle word
# should score high and the noise words low: the loss of our example drops well below 4.16.

# %%
started = time.perf_counter()
cbow.train(english)
print(f"CBOW: {time.perf_counter() - started:.1f} s; mean loss per example by epoch:",
      ", ".join(f"{x:.3f}" for x in cbow.epoch_losses))

hand, library = one_cbow_example(cbow)
check("cbow_loss of the example after training", library.item(), hand.item(), tol=1e-6)
assert hand.item() < 6 * np.log(2) / 2, "training should have lowered the example's loss"
x = rows(cbow.model.input_vectors, [kv_index(w) for w in context]).mean(dim=0)
for i, kind in [(kv_index(target), "true word, pushed towards 1")] + \
        [(i, "noise word, pushed towards 0") for i in noise]:
    p = tt.sigmoid((x * rows(cbow.model.output_vectors, [i])[0]).sum()).item()
    print(f"  sigmoid(h . W'[{word_of[i]!r}]) = {p:.3f}   ({kind})")

# %% [markdown]
# ## Skip-gram
# Skip-gram makes one example of each (word, context word) pair: the same loss, with h the
# input vector of a single word instead of the mean of four. (In the paper the middle word
# predicts its neighbours; gensim and this library let each neighbour predict the middle
# word: the same pairs, each scored the other way round.) `skipgram_loss` for one pair:

# %%
skipgram = Word2Vec(english, sg=1, **SETTINGS)
print(f"skip-gram: {skipgram.train_seconds:.1f} s; mean loss per pair by epoch:",
      ", ".join(f"{x:.3f}" for x in skipgram.epoch_losses))
W, W_out = skipgram.model.input_vectors, skipgram.model.output_vectors
x = rows(W, [kv_index("bought")])                                  # one context word
u_true, u_noise = rows(W_out, [kv_index(target)]), rows(W_out, noise)
library = skipgram_loss(x.reshape(1, 1, -1), np.ones((1, 1, 1), np.float32),
                        u_true.reshape(1, 1, -1), u_noise.reshape(1, 5, -1),
                        np.ones((1, 1, 5), np.float32))
check("skipgram_loss of the pair (bought, watermelons)", library.item(),
      loss_by_hand(x[0], u_true[0], u_noise).item(), tol=1e-6)

# %% [markdown]
# ## Nearest neighbours
# `model.wv` holds the input vectors as `KeyedVectors` (gensim's API). `most_similar` ranks
# words by cosine similarity, the cosine of the angle between two vectors. Words used in the
# same places get similar vectors: animals with animals, numbers with numbers, a verb with its
# other forms. The grammar uses "he" and "she" in the same places, so they are near twins.

# %%
for word in ["cat", "three", "teacher", "tomorrow", "drink", "he"]:
    for name, model in (("CBOW", cbow), ("skip-gram", skipgram)):
        shown = ", ".join(f"{w} {s:.2f}" for w, s in model.wv.most_similar(word, topn=5))
        print(f"{name:>9} {word:>9}: {shown}")
for model in (cbow, skipgram):
    assert "dog" in [w for w, _ in model.wv.most_similar("cat", topn=3)]
    assert model.wv.most_similar("he", topn=1)[0][0] == "she"

# %% [markdown]
# The same on the Chinese side, where `tokenize_zh` cuts a sentence into characters. A
# character is not always a word: 昨 only ever appears in 昨天 (yesterday), so its neighbours
# are the other characters of time words and of the past tense (了, 没).

# %%
chinese = Word2Vec([tokenize_zh(zh) for zh, _ in pairs], sg=0, **SETTINGS)
for char in "他猫三吃昨":
    print(f"     CBOW {char}: " + ", ".join(f"{w} {s:.2f}"
                                           for w, s in chinese.wv.most_similar(char, topn=5)))

# %% [markdown]
# ## An analogy: run : ran = sell : ?
# Mikolov et al. found that differences of vectors carry meaning: vector("king") -
# vector("man") + vector("woman") is nearest to vector("queen"). This grammar has no kings,
# but it has tenses. If "ran" - "run" is a "past tense" direction, then "sell" plus that
# direction should land near "sold". `most_similar(positive=[b, c], negative=[a])` computes
# this (3CosAdd, with unit vectors) and leaves the three question words out.
#
# A fair test is one where the answer is *not* simply the nearest neighbour of "sell" (which
# is "buy": they are used in the same sentences). Many easier-looking analogies pass for that
# reason alone: "drank" is already the nearest neighbour of "drink".

# %%
for name, model in (("CBOW", cbow), ("skip-gram", skipgram)):
    kv = model.wv
    (answer, cosine), = kv.most_similar(positive=["ran", "sell"], negative=["run"], topn=1)
    alone = kv.most_similar("sell", topn=1)[0][0]
    print(f"analogy ({name}): run : ran = sell : {answer}   (cosine {cosine:.2f}; "
          f"nearest to 'sell' alone: {alone})")
    assert answer == "sold" and alone != "sold"

# %% [markdown]
# How reliable is it? Every question a : b = c : d made of two (verb, past tense) pairs,
# answered by 3CosAdd, against answering with the nearest neighbour of c alone.

# %%
PAST = [("eat", "ate"), ("drink", "drank"), ("see", "saw"), ("buy", "bought"), ("sell", "sold"),
        ("write", "wrote"), ("go", "went"), ("run", "ran"), ("sleep", "slept"), ("swim", "swam"),
        ("teach", "taught"), ("draw", "drew"), ("build", "built"), ("ride", "rode"),
        ("sing", "sang"), ("drive", "drove"), ("take", "took"), ("find", "found")]
for name, model in (("CBOW", cbow), ("skip-gram", skipgram)):
    kv, right, baseline = model.wv, 0, 0
    questions = list(itertools.permutations(PAST, 2))
    for (a, b), (c, d) in questions:
        right += kv.most_similar(positive=[b, c], negative=[a], topn=1)[0][0] == d
        baseline += kv.most_similar(c, topn=1)[0][0] == d
    print(f"{name:>9}: {len(questions)} past-tense analogies, 3CosAdd right "
          f"{right / len(questions):.0%}, nearest neighbour of c alone right "
          f"{baseline / len(questions):.0%}")

# %% [markdown]
# ## A picture: the vectors projected to 2-D
# The vectors have 50 dimensions. PCA (principal component analysis) finds the two directions
# along which a set of vectors varies most: centre the vectors, take the singular value
# decomposition (NumPy's `svd`), and project onto the first two right singular vectors.
#
# Left: the unit vectors of words of six themes, by PCA: each theme is its own tight cluster.
# Right: verbs and their past tenses, an arrow from each verb to its past. Across: the
# "past tense" direction itself, the mean of the differences (ran - run, sold - sell, ...);
# up: the first principal component of what is left. Every arrow points to the right: that
# shared direction is what the analogy added to "sell".

# %%
def pca_2d(vectors):
    """The rows of `vectors` projected onto their first two principal components."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def past_tense_axes(kv, pairs):
    """Across: along the mean of (past - verb) of the unit vectors; up: the first principal
    component of what is left of the vectors once that direction is taken out."""
    base = np.stack([kv.get_vector(b, norm=True) for b, _ in pairs])
    past = np.stack([kv.get_vector(p, norm=True) for _, p in pairs])
    direction = (past - base).mean(axis=0)
    direction /= np.linalg.norm(direction)
    vectors = np.concatenate([base, past])
    along = vectors @ direction
    rest = vectors - np.outer(along, direction)
    return np.stack([along, pca_2d(rest)[:, 0]], axis=1)


THEMES = {"animals": ["cat", "dog", "bird", "rabbit", "horse", "fish"],
          "fruit": ["apple", "banana", "pear", "orange", "watermelon"],
          "people": ["teacher", "doctor", "nurse", "farmer", "driver"],
          "time": ["yesterday", "tomorrow", "today", "morning", "night"],
          "numbers": ["two", "three", "four", "five", "ten"],
          "colours": ["red", "white", "black"]}
VERBS = [("eat", "ate"), ("drink", "drank"), ("buy", "bought"), ("sell", "sold"),
         ("run", "ran"), ("write", "wrote"), ("sleep", "slept"), ("sing", "sang")]
kv = cbow.wv
theme_words = [w for group in THEMES.values() for w in group]
theme_points = pca_2d(np.stack([kv.get_vector(w, norm=True) for w in theme_words]))
theme_colours = [colour for group, colour in zip(THEMES.values(), plt.cm.Dark2.colors)
                 for _ in group]
verb_words = [b for b, _ in VERBS] + [p for _, p in VERBS]
verb_points = past_tense_axes(kv, VERBS)
verb_colours = ["tab:blue"] * len(VERBS) + ["tab:red"] * len(VERBS)

# %% [markdown]
# Many words of a theme sit almost on one point, so a small helper places their labels:
# beside the point if there is room, otherwise further up or down with a thin line to it.

# %%
def label_points(ax, points, words, colours, first_side=None):
    """Write each word beside its point at the first offset (in points) where its label
    overlaps no point and no earlier label; a thin line joins a moved label to its point.
    first_side: per word, 1 to try the right of the point first (the default), -1 the left."""
    renderer = ax.figure.canvas.get_renderer()
    pixels = ax.transData.transform(points)
    taken = [matplotlib.transforms.Bbox([p - 4, p + 4]) for p in pixels]      # the dots
    for (x, y), word, colour, first in zip(points, words, colours,
                                           first_side or [1] * len(words)):
        offsets = [(6 * side * first, 12 * k * up)
                   for k in range(12) for up in (1, -1) for side in (1, -1)]
        for dx, dy in offsets:                     # the last one if none is free
            text = ax.annotate(word, (x, y), xytext=(dx, dy), textcoords="offset points",
                               ha="left" if dx > 0 else "right", va="center", fontsize=10,
                               color=colour, zorder=4,          # above lines, on white
                               bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none"))
            box = text.get_window_extent(renderer).expanded(1.04, 1.15)
            if not any(box.overlaps(other) for other in taken) or (dx, dy) == offsets[-1]:
                break
            text.remove()
        taken.append(box)
        if dy:
            ax.annotate("", (x, y), xytext=(dx, dy), textcoords="offset points",
                        arrowprops=dict(arrowstyle="-", lw=0.6, color=colour, shrinkB=3))


def scatter(ax, points, colours):
    ax.scatter(points[:, 0], points[:, 1], s=36, c=colours, zorder=3)
    low, high = points.min(axis=0), points.max(axis=0)
    ax.set_xlim(low[0] - 0.25 * (high - low)[0], high[0] + 0.25 * (high - low)[0])
    ax.set_ylim(low[1] - 0.15 * (high - low)[1], high[1] + 0.15 * (high - low)[1])


# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(14, 7), dpi=100)
scatter(left, theme_points, theme_colours)
for theme, colour in zip(THEMES, plt.cm.Dark2.colors):
    left.scatter([], [], s=36, color=colour, label=theme)
left.set(title="CBOW word vectors of six themes (PCA)", xlabel="principal component 1",
         ylabel="principal component 2")
left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=6, fontsize=10)

n = len(VERBS)
for i in range(n):
    right.annotate("", verb_points[n + i], verb_points[i],
                   arrowprops=dict(arrowstyle="->", color="gray", lw=1, shrinkA=4, shrinkB=4))
scatter(right, verb_points, verb_colours)
right.scatter([], [], s=36, color="tab:blue", label="verb")
right.scatter([], [], s=36, color="tab:red", label="past tense")
right.set(title="Verb -> past tense: one shared direction",
          xlabel="along the mean of (past - verb)", ylabel="principal component 1 of the rest")
right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=10)
fig.tight_layout()                     # before the labels: it moves the axes
label_points(left, theme_points, theme_words, theme_colours)
label_points(right, verb_points, verb_words, verb_colours,     # verbs left of the arrows
             first_side=[-1] * n + [1] * n)
fig.savefig(OUT / "05_word_vectors.png", dpi=100)
print("wrote", OUT / "05_word_vectors.png")
