# %% [markdown]
# # Step 8. Real data: Tatoeba, BLEU, and attention on real sentences
#
# **What you will see:** the Tatoeba file format and the project's reader; BLEU, the usual
# score of machine translation, worked out by hand for one sentence and checked against
# sacreBLEU; a short training run with the project's `Trainer` on real Chinese-English pairs,
# its loss curve (`08_loss.png`), translations and BLEU; and cross-attention heatmaps of real
# sentences (`08_attention.png`). About 70 seconds on a laptop CPU; with TINY_QUICK=1 a few
# dozen steps, a few seconds.
#
# The data: the Tatoeba sentence pairs (tatoeba.org, CC-BY 2.0 FR) in the manythings.org
# format. If this checkout sits next to the project's shared folder
# (`../shared/data/tatoeba-cmn-eng/train.tsv` and `dev.tsv`, relative to the repository), the
# step uses them; otherwise it writes a small sample of a few dozen pairs in the same format
# and uses that, and says so. The output names the data it used.
#
# **This is a taste, not the recipe.** A minute of training on a CPU teaches a small model
# the most frequent short sentences and little else: expect a dev BLEU of a few points. The
# full recipe is `examples/train_translate.py --preset tatoeba` (README, "The translator"), from
# the repository:
#
#     python examples/split_pairs.py ../shared/data/tatoeba-cmn-eng/dev.tsv \
#         runs/data/dev.tsv runs/data/test.tsv
#     python examples/train_translate.py --preset tatoeba \
#         --data ../shared/data/tatoeba-cmn-eng/train.tsv --dev runs/data/dev.tsv \
#         --test runs/data/test.tsv --out runs/tatoeba
#
# It takes 53 minutes on the README's 2-core machine (5536 steps, English as SentencePiece
# subwords) and reaches a test BLEU of 31.6 greedy, 32.9 with beam search.

# %%
import collections
import math
import os
import pathlib
import sys
import time

import matplotlib
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")              # no window when run as a script
import matplotlib.pyplot as plt
from matplotlib import font_manager
import numpy as np
import sacrebleu                       # BLEU (pip install "tinytensor[examples]")

from tinytransformer.translation import (TrainConfig, Trainer, corpus_bleu, read_tsv,
                                         tokenize_en, tokenize_zh, train_dev_split)

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("TINY_QUICK") == "1"       # a few dozen steps, for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## The file format
# One pair per line, tab-separated: the English sentence, the Chinese one, and (in Tatoeba's
# files) an attribution. UTF-8. `read_tsv(path, src="zh", tgt="en")` returns (Chinese,
# English) pairs and skips, with one warning, lines it cannot use.

# %%
try:
    REPO = pathlib.Path(__file__).resolve().parents[1]
except NameError:                          # in a notebook, which runs in examples/
    REPO = pathlib.Path.cwd().resolve().parent
SHARED = REPO.parent / "shared" / "data" / "tatoeba-cmn-eng"

# A stand-in for machines without the shared folder: everyday sentences, written for this step.
SAMPLE = """\
I'm hungry.	我饿了。
Are you hungry?	你饿了吗？
It's raining.	下雨了。
I love you.	我爱你。
Where is the station?	车站在哪里？
How much is this?	这个多少钱？
I don't understand.	我不明白。
Please speak slowly.	请说慢一点。
She is my sister.	她是我姐姐。
He works at a bank.	他在银行工作。
We are students.	我们是学生。
The weather is nice today.	今天天气很好。
I have two brothers.	我有两个兄弟。
What time is it?	现在几点？
I'm tired.	我累了。
Do you speak English?	你会说英语吗？
I like to read books.	我喜欢看书。
This book is very interesting.	这本书很有意思。
My father is a doctor.	我爸爸是医生。
Let's go home.	我们回家吧。
I'm going to bed.	我去睡觉了。
Tom is taller than me.	汤姆比我高。
The cat is sleeping.	猫在睡觉。
Please open the window.	请把窗户打开。
I lost my key.	我把钥匙丢了。
Can you help me?	你能帮我吗？
Sorry I'm late.	对不起，我来晚了。
He drinks coffee every morning.	他每天早上喝咖啡。
Where do you live?	你住在哪里？
I live in Beijing.	我住在北京。
The water is cold.	水很冷。
She can swim.	她会游泳。
I want to learn Chinese.	我想学中文。
It's too expensive.	太贵了。
Happy birthday!	生日快乐！
See you tomorrow.	明天见。
I don't have time.	我没有时间。
My mother is a good cook.	我妈妈做饭做得很好。
The train is late.	火车晚点了。
Long time no see.	好久不见。
Thank you very much.	非常感谢。
Who is that man?	那个男人是谁？
I'm a teacher.	我是老师。
Is this your bag?	这是你的包吗？
We went to the park yesterday.	我们昨天去了公园。
That's a good idea.	这是个好主意。
Tom likes apples.	汤姆喜欢苹果。
I often drink tea.	我常常喝茶。
"""

if (SHARED / "train.tsv").is_file():
    train_path = SHARED / "train.tsv"
    dev_path = SHARED / "dev.tsv" if (SHARED / "dev.tsv").is_file() else None
    source = f"the Tatoeba pairs in {SHARED}"
else:
    train_path, dev_path = OUT / "08_sample.tsv", None
    train_path.write_text("".join(f"{line}\tsample written by examples/08_real_data.py\n"
                                  for line in SAMPLE.splitlines()), encoding="utf-8")
    source = (f"a sample of {len(SAMPLE.splitlines())} pairs written by this step to "
              f"{train_path} ({SHARED} is not there)")
real_data = dev_path is not None
print("data:", source)
with open(train_path, encoding="utf-8") as f:
    for line in [next(f) for _ in range(2)]:
        print("  a raw line:", repr(line))

pairs = read_tsv(train_path, src="zh", tgt="en")
if dev_path:
    train, dev = pairs, read_tsv(dev_path, src="zh", tgt="en")
else:
    train, dev = train_dev_split(pairs, 0.1, seed=0)   # by source sentence: none in both
print(f"{len(train)} training pairs, {len(dev)} dev pairs; the first: {train[0]}")

# %% [markdown]
# Real data is not a grammar's output. One Chinese sentence often has several English
# translations (and the other way round), sentences are long and short, and most words are
# rare: a long tail that a small model trained for a minute cannot learn.

# %%
translations = collections.defaultdict(set)
for zh, en in train:
    translations[zh].add(en)
several = [(zh, sorted(ens)) for zh, ens in translations.items() if len(ens) > 1]
print(f"{len(several)} of {len(translations)} Chinese sentences have more than one translation"
      + (f", e.g. {several[0][0]} -> {' / '.join(several[0][1][:3])}" if several else ""))
zh_lengths = [len(tokenize_zh(zh)) for zh, _ in train]
words = collections.Counter(w for _, en in train for w in tokenize_en(en))
print(f"Chinese length in characters: median {np.median(zh_lengths):.0f}, 90 % under "
      f"{np.percentile(zh_lengths, 90):.0f}; {len(words)} distinct English tokens, "
      f"{sum(c == 1 for c in words.values())} of them seen only once")

# %% [markdown]
# ## BLEU, by hand
# BLEU (Papineni et al. 2002) compares a translation with a reference by the n-grams (runs of
# n tokens, n = 1..4) they share. For each n, the *modified precision* p_n is the share of the
# translation's n-grams found in the reference, each counted at most as often as it occurs
# there (so "the the the" does not score). A translation shorter than its reference is
# charged a *brevity penalty* BP = e^(1 - r/c) (c, r: the lengths), since precision alone
# would reward saying little. Then
#
#     BLEU = 100 · BP · (p_1 p_2 p_3 p_4)^(1/4)
#
# Over a corpus the counts of all sentences are added up before dividing (corpus BLEU, which
# is what papers report). sacreBLEU (Post 2018) fixes the tokenization (its "13a" splits off
# punctuation; "zh" cuts Chinese into characters), so that scores are comparable;
# `tinytransformer.translation.corpus_bleu(hypotheses, references)` calls it with those
# standard settings. sacreBLEU's own result line lists the four precisions (in %) and BP.
#
# Our example: "The cat sat on the mat." against "The cat sat on a mat today." In tokens
# (the full stop is one): p_1 = 6/7 (the second "the" is not matched: the reference has one),
# p_2 = 3/6, p_3 = 2/5, p_4 = 1/4; c = 7, r = 8, so BP = e^(1 - 8/7) and
# BLEU = 100 · e^(-1/7) · (6/7 · 3/6 · 2/5 · 1/4)^(1/4) = 39.44.

# %%
def ngrams(tokens, n):
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu_by_hand(hypothesis, reference):
    """Sentence BLEU with the formula above (tokens split at spaces and before '.')."""
    hyp, ref = (s.replace(".", " .").split() for s in (hypothesis, reference))
    precisions = []
    for n in range(1, 5):
        h, r = ngrams(hyp, n), ngrams(ref, n)
        matched = sum(min(count, r[gram]) for gram, count in h.items())
        precisions.append(matched / sum(h.values()))
        print(f"  p_{n} = {matched}/{sum(h.values())}")
    brevity = min(1.0, math.exp(1 - len(ref) / len(hyp)))
    print(f"  BP = {brevity:.4f} (c = {len(hyp)}, r = {len(ref)})")
    return 100 * brevity * math.prod(precisions) ** 0.25


hypothesis, reference = "The cat sat on the mat.", "The cat sat on a mat today."
by_hand = bleu_by_hand(hypothesis, reference)
print("sacreBLEU itself:", sacrebleu.corpus_bleu([hypothesis], [[reference]]))
check("BLEU of the worked example", corpus_bleu([hypothesis], [reference]), by_hand,
      source="by hand", tol=1e-9)
check("BLEU of a perfect translation", corpus_bleu([reference], [reference]), 100.0)

# %% [markdown]
# ## Training a small model with the Trainer
# `Trainer` is the loop of step 7 with everything a real run needs: batches by length, Adam
# with warm-up, label smoothing, clipping, a dev evaluation (loss and greedy BLEU) every
# `eval_every` steps, checkpoints (`best.npz`, `last.npz`) that `--resume` continues from.
# `examples/train_translate.py` is a command line around it.
#
# To learn something in a minute we keep the short sentences (at most 8 Chinese characters,
# about 40 % of Tatoeba's), a model of d_model 64, and tokens seen at least twice
# (`min_freq=2`; the rest become `<unk>`), and we switch dropout off: it fights
# over-fitting, which a minute of training never gets to, and slows the start (with the
# default 0.1 this run ends at about a dev loss of 3.1 instead of 2.6). The dev loss and BLEU
# are measured on 200 short dev sentences.

# %%
short = [(zh, en) for zh, en in train if len(tokenize_zh(zh)) <= 8]
short_dev = [(zh, en) for zh, en in dev if len(tokenize_zh(zh)) <= 8][:200]
if QUICK:
    short, short_dev = short[:3000], short_dev[:40]
steps = 30 if QUICK else (600 if real_data else 200)
config = TrainConfig(d_model=64, n_heads=4, n_layers=2, d_ff=256, dropout=0.0,
                     batch_tokens=1000, min_freq=2 if real_data else 1, warmup=200,
                     steps=steps, eval_every=steps // 3 if steps >= 300 else steps, max_len=32)
trainer = Trainer({"train": short, "dev": short_dev}, config)
translator = trainer.translator
print(f"{len(short)} training pairs, {len(short_dev)} dev pairs; vocabularies "
      f"{len(translator.src_vocab)} (zh) and {len(translator.tgt_vocab)} (en); "
      f"{trainer.model.num_parameters():,} parameters")
started = time.perf_counter()
state = trainer.run(OUT / "08_run", progress=False, overwrite=True)   # checkpoints: 08_run/
print(f"trained {state['step']} steps in {time.perf_counter() - started:.0f} s")

# %% [markdown]
# The loss curve: the training loss of every step (label-smoothed) and the dev loss and
# BLEU at each evaluation.

# %%
train_steps, train_losses = zip(*state["train_loss"])
fig, ax = plt.subplots(figsize=(7.5, 4.2))
ax.plot(train_steps, train_losses, color="tab:blue", alpha=0.3, lw=0.8,
        label="training loss of each batch (label-smoothed)")
window = max(1, min(25, len(train_losses) // 4))
ax.plot(train_steps[window - 1:], np.convolve(train_losses, np.ones(window) / window, "valid"),
        color="tab:blue", label=f"its running mean over {window} steps")
val_steps, val_losses, val_bleus = zip(*state["val"])
ax.plot(val_steps, val_losses, "o-", color="tab:orange", label="dev loss")
for s, loss, b in state["val"]:
    ax.annotate(f"dev BLEU {b:.1f}", (s, loss), xytext=(0, -16), textcoords="offset points",
                ha="center", fontsize=9, color="tab:orange")
ax.set(xlabel="step", ylabel="cross-entropy per token", ylim=(0, None),
       title=f"{state['step']} training steps on " + ("Tatoeba's short sentences" if real_data
                                                       else "the written sample"))
ax.set_xlim(0, state["step"] * 1.06)                   # room for the last label
ax.legend(loc="best")
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(OUT / "08_loss.png", dpi=100)
print("wrote", OUT / "08_loss.png")

# %% [markdown]
# ## Translations and BLEU
# Sentences it trained on and dev sentences it has not seen, greedy and with beam search;
# then corpus BLEU of both on the dev sentences and, for comparison, on as many training
# sentences. Expect little: the frequent openings ("I don't", "Tom is", "What do you") come
# out right, the rarer words as something frequent or `<unk>`.
#
# Greedy outputs of an under-trained model often loop ("to go to go to go ..."): after "to
# go" the most likely next token is "to" again, so it goes on until the length limit. Beam
# search compares whole hypotheses, and a finished one with `</s>` soon beats the looping
# ones, so its outputs end sooner. Longer training cures both.

# %%
for name, pairs_ in (("training", short), ("dev", short_dev)):
    examples = list(dict(pairs_).items())[:5]        # five distinct Chinese sentences
    print(f"{name} sentences:")
    for zh, en in examples:
        print(f"  {zh}  ->  {translator.translate(zh)}   | beam 4: "
              f"{translator.translate(zh, beam_size=4)}   (reference: {en})")
seen = short[:len(short_dev)]
print(f"BLEU on {len(short_dev)} dev sentences: greedy {trainer.bleu(short_dev):.1f}, beam 4 "
      f"{trainer.bleu(short_dev, beam_size=4):.1f}; on {len(seen)} training sentences: greedy "
      f"{trainer.bleu(seen):.1f}")

# %% [markdown]
# ## Cross-attention on real sentences
# As in step 7: for each English token the model wrote (rows), the weights of the last
# decoder layer's cross-attention over the Chinese tokens (columns), averaged over the
# heads, for the beam-search translation of three short sentences (dev ones where the output
# does not loop). After a minute of training they are rough; the full recipe's model
# (`train_translate.py` draws its `attention.png`) aligns much more sharply.

# %%
CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han Sans", "WenQuanYi", "AR PL",
             "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang", "Heiti",
             "Hiragino Sans GB", "Noto Sans SC")


def cjk_font():
    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    return next((n for want in CJK_FONTS for n in names if want.lower() in n.lower()), None)


font = cjk_font()
if font:
    plt.rcParams["font.sans-serif"] = [font] + plt.rcParams["font.sans-serif"]
else:
    print("note: no Chinese font found, so Chinese characters are labelled by their code points "
          "(printed below); to see the characters: sudo apt install fonts-noto-cjk, "
          "then rm -rf ~/.cache/matplotlib")


def label(token):
    return token if font or token.isascii() or len(token) != 1 else f"U+{ord(token):04X}"


def in_vocabulary(zh):
    return all(t in translator.src_vocab for t in tokenize_zh(zh))


def fits(zh, en):
    """A sentence worth drawing: known characters, and a translation that does not loop."""
    if not (in_vocabulary(zh) and 4 <= len(tokenize_zh(zh)) <= 8):
        return False
    return len(tokenize_en(translator.translate(zh, beam_size=4))) <= len(tokenize_en(en)) + 3


candidates = dict(short_dev + short)                 # dev sentences first, each once
shown = [(zh, en) for zh, en in list(candidates.items())[:200] if fits(zh, en)][:3] or \
    list(candidates.items())[:3]
fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 4.8), squeeze=False)
for ax, (zh, en) in zip(axes[0], shown):
    src_tokens, out_tokens, weights = translator.cross_attention(zh, beam_size=4)
    ax.imshow(weights.mean(axis=0), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), [label(t) for t in src_tokens],
                  rotation=0 if font else 90)
    ax.set_yticks(range(len(out_tokens)), out_tokens)
    ax.set_xlabel("Chinese source token")
    title = zh if font else " ".join(label(t) for t in tokenize_zh(zh))
    part = "dev" if zh in dict(short_dev) else "training"
    ax.set_title(f"{title}\n{part} sentence; reference: {en}", fontsize=10)
    if not font:
        print(f"  {zh}: " + ", ".join(f"{label(t)} = {t}" for t in tokenize_zh(zh)
                                      if label(t) != t))
axes[0][0].set_ylabel("English output token")
fig.suptitle("Cross-attention (last decoder layer, mean of the heads) on "
             + ("Tatoeba sentences" if real_data else "sentences of the sample"))
fig.tight_layout()
fig.savefig(OUT / "08_attention.png", dpi=100)
print("wrote", OUT / "08_attention.png")
