# %% [markdown]
# # Step 7. The Transformer: positions, Add & Norm, teacher forcing, decoding
#
# **What you will see:** the sinusoidal position codes as a picture (`07_positions.png`) and
# why attention needs them (我爱你 and 你爱我 look the same to it without them); one encoder
# layer's "Add & Norm" rebuilt by hand and checked; teacher forcing on the notes' 好久不见 ->
# "long time no see"; a small encoder-decoder Transformer trained on the built-in corpus, with
# its loss curve (`07_loss.png`); greedy decoding one token at a time, printed as the tokens
# come; beam search; the KV cache's speed-up, measured; and the cross-attention of a trained
# model drawn as a heatmap (`07_cross_attention.png`). About 1 minute on a laptop CPU (600
# training steps); with TINY_QUICK=1 a few seconds, and the model is then too short-trained
# to translate well.
#
# The notes (Transformer 的结构): the source sentence goes into the **encoder** (编码器), N
# identical layers of multi-head self-attention and a feed-forward network; the **decoder**
# (解码器) has N layers of masked self-attention, **cross-attention** (交叉注意力, whose Q comes
# from the decoder and whose K and V come from the encoder's output) and a feed-forward
# network. Every sub-layer is wrapped in **Add & Norm** (残差连接 & 层归一化). The decoder writes
# the translation one token at a time (自回归, autoregressive), each from the ones before.
#
# This step builds the training loop itself, so every piece is in sight;
# `examples/train_translate.py` (and step 8) use `Trainer`, which runs the same loop with
# checkpoints and evaluation.

# %%
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
import sacrebleu  # noqa: F401  corpus_bleu below needs it (pip install "tinytensor[examples]")

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytransformer import (Embedding, EncoderLayer, MultiHeadAttention, PositionalEncoding,
                             Transformer, beam_search, evaluating, greedy_decode)
from tinytransformer.data import BOS, EOS, PAD, Vocab
from tinytransformer.optim import Adam, NoamSchedule, clip_grad_norm_
from tinytransformer.translation import (DOC_EXAMPLES, ENGLISH_PROPER_NOUNS, FIXED_PHRASES,
                                         Translator, builtin_splits, corpus_bleu, make_batches,
                                         tokenize_en, tokenize_zh)

OUT = pathlib.Path(os.environ.get("TINY_OUT", "runs/learning_path"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("TINY_QUICK") == "1"       # a smaller corpus and a few steps, for tests


def check(what, value, expected, tol=1e-9, source="by hand"):
    """Print a value next to the one worked out by hand; stop if they differ."""
    ok = abs(value - expected) <= tol * max(1.0, abs(expected))
    print(f"check {what}: {value:.10g} vs {expected:.10g} {source} [{'ok' if ok else 'WRONG'}]")
    assert ok, f"{what}: got {value}, expected {expected}"


# %% [markdown]
# ## Positions
# Attention compares every token with every other, and nothing in it knows where a token
# stands. The notes: Q/K/V 的输出是带权重的加法，符合交换律 (a weighted sum does not care about
# order), so without positions 我爱你 and 你爱我 (I love you, you love me) give each character
# the same vector, only in another order. Let us see it: embed the three characters, run
# self-attention on both orders, and compare.

# %%
tt.manual_seed(0)
d_model = 64
chars = {"我": 0, "爱": 1, "你": 2}
embed = Embedding(len(chars), d_model)
attention = MultiHeadAttention(d_model, n_heads=4)
positions = PositionalEncoding(d_model, max_len=50)


def self_attend(sentence, with_positions):
    x = embed(tt.tensor([[chars[c] for c in sentence]]))           # (1, 3, d_model)
    if with_positions:
        x = positions(x)                                           # x + PE[0], PE[1], PE[2]
    return attention(x, x, x)[0][0].numpy()                        # (3, d_model)


i_love_you, you_love_me = self_attend("我爱你", False), self_attend("你爱我", False)
check("largest difference of 我's output in 我爱你 and 你爱我, no positions",
      np.abs(i_love_you[0] - you_love_me[2]).max(), 0.0, tol=1e-6)
i_love_you, you_love_me = self_attend("我爱你", True), self_attend("你爱我", True)
print(f"with positions, 我's output differs between the two by up to "
      f"{np.abs(i_love_you[0] - you_love_me[2]).max():.3f}")

# %% [markdown]
# The paper adds to each token vector a code for its position (位置编码), made of waves:
#
#     PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),   PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))
#
# Dimension pair i is a sine and a cosine of frequency ω_i = 10000^(-2i/d_model), from one
# turn every 2π positions (i = 0) down to one every 2π·10000. `PositionalEncoding(x)` returns
# x + PE, so on zeros it returns the table itself.
#
# One property makes it useful: since sin a sin b + cos a cos b = cos(a - b), the dot product
# of two codes depends only on how far apart they are, PE[p] . PE[p+k] = Σ_i cos(k ω_i), not
# on p. So attention, which works with dot products, can tell "3 tokens to the left".

# %%
table = positions(tt.zeros(1, 50, d_model))[0].numpy()           # (50 positions, 64)
omega = [10000 ** (-2 * i / d_model) for i in range(d_model // 2)]
check("PE[3, 4] = sin(3 / 10000^(4/64))", table[3, 4], math.sin(3 * omega[2]), tol=1e-6)
check("PE[3, 5] = cos(3 / 10000^(4/64))", table[3, 5], math.cos(3 * omega[2]), tol=1e-6)
offset_3 = sum(math.cos(3 * w) for w in omega)
check("PE[5] . PE[8]", table[5] @ table[8], offset_3, tol=1e-5, source="= sum cos(3 w_i) by hand")
check("PE[30] . PE[33]", table[30] @ table[33], offset_3, tol=1e-5,
      source="= sum cos(3 w_i) by hand")

fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4),
                                          gridspec_kw={"width_ratios": [1.3, 1, 1]})
image = left.imshow(table, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
left.set(xlabel="dimension", ylabel="position", title="PE[pos, dim]: sin (even), cos (odd dims)")
fig.colorbar(image, ax=left, fraction=0.05)
fine = np.linspace(0, len(table) - 1, 500)
for dim, colour in zip((0, 6, 20, 40), plt.cm.tab10.colors):
    wave = np.sin if dim % 2 == 0 else np.cos
    middle.plot(fine, wave(fine * omega[dim // 2]), color=colour, lw=0.8,
                label=f"dim {dim}: wavelength {2 * math.pi / omega[dim // 2]:.0f}")
    middle.plot(table[:, dim], ".", color=colour, ms=4)          # the table: one row per position
middle.set(xlabel="position", ylabel="PE", title="even dimensions: sine waves, sampled (dots)")
middle.set_ylim(-1.15, 1.8)                                       # room for the legend
middle.legend(fontsize=8, loc="upper center", ncol=2)
for p in (10, 25):
    right.plot(table @ table[p], marker=".", label=f"PE[{p}] . PE[pos]")
right.set(xlabel="pos", ylabel="dot product",
          title="similarity depends on the distance only")
right.legend(fontsize=9)
fig.tight_layout()
fig.savefig(OUT / "07_positions.png", dpi=100)
print("wrote", OUT / "07_positions.png")

# %% [markdown]
# ## Add & Norm
# The notes: LayerNorm(x + SubLayer(x)), with LayerNorm(x) = γ (x - μ) / √(σ² + ε) + β over
# the features of each token (使每个词向量均值为 0、方差为 1; γ and β learned). The residual
# "x +" gives the gradient a path around every sub-layer, so deep stacks still train.
#
# An `EncoderLayer` is two of these, around self-attention and around the feed-forward
# network (Linear, ReLU, Linear). Rebuilt by hand from its parts (in evaluation mode, so that
# dropout is off), it must give what the layer gives:

# %%
layer = EncoderLayer(d_model, n_heads=4, d_ff=128)
x = tt.randn(1, 6, d_model)                                       # 6 token vectors
with evaluating(layer), tt.no_grad():
    h = layer.norm1(x + layer.self_attn(x, x, x)[0])               # Add & Norm 1
    by_hand = layer.norm2(h + layer.feed_forward(h))               # Add & Norm 2
    y = layer(x)
    pre = x + layer.self_attn(x, x, x)[0]
check("largest |EncoderLayer - two Add & Norm by hand|", np.abs(y.numpy() - by_hand.numpy()).max(),
      0.0, tol=1e-6)
row = pre.numpy()[0, 0]
gamma, beta = layer.norm1.weight.numpy(), layer.norm1.bias.numpy()
normed = gamma * (row - row.mean()) / np.sqrt(row.var() + 1e-5) + beta
check("largest |LayerNorm - the notes' formula|, one token", np.abs(h.numpy()[0, 0] - normed).max(),
      0.0, tol=1e-5)
print(f"one token after Add & Norm: mean {h.numpy()[0, 0].mean():+.2e}, "
      f"variance {h.numpy()[0, 0].var():.4f} (γ = 1, β = 0 before training)")

# %% [markdown]
# ## The data: the built-in corpus
# Sentence pairs made by a small bilingual grammar (see `tinytransformer/translation/corpus`),
# plus, as in `examples/train_translate.py`, the notes' examples and some set phrases
# repeated 50 times: 好久不见 follows no grammar rule, so it is learnt like an idiom, by
# repetition. Chinese is cut into characters (`tokenize_zh`), English into lower-case words
# and punctuation (`tokenize_en`); `Vocab` numbers the tokens, after the four specials
# `<pad> <unk> <s> </s>` (ids 0-3).

# %%
n_pairs, n_held_out = (700, 50) if QUICK else (3000, 200)
splits = builtin_splits(0, n_pairs=n_pairs, n_dev=n_held_out // 2, n_test=n_held_out)
train = splits["train"] + (DOC_EXAMPLES + FIXED_PHRASES) * 50
src_vocab = Vocab.build([tokenize_zh(zh) for zh, _ in train])
tgt_vocab = Vocab.build([tokenize_en(en) for _, en in train])


def encode(pairs):
    return ([src_vocab.encode(tokenize_zh(zh)) for zh, _ in pairs],
            [tgt_vocab.encode(tokenize_en(en)) for _, en in pairs])


train_ids, dev_ids = encode(train), encode(splits["dev"])
print(f"{len(train)} training pairs ({len(splits['train'])} sentences + the repeated idioms), "
      f"{len(splits['dev'])} dev, {len(splits['test'])} test; vocabularies "
      f"{len(src_vocab)} Chinese characters, {len(tgt_vocab)} English tokens")
for zh, en in train[2:4]:
    print(f"  {zh} -> {en}    {tokenize_zh(zh)} -> {tokenize_en(en)}")

# %% [markdown]
# ## Teacher forcing
# `make_batches` pads a batch of pairs into arrays: the source gets `</s>` at its end, the
# target `<s>` in front and `</s>` behind. The decoder's **input** is the target without its
# last token and its **labels** are the target without its first: at every position it must
# predict the next word, given the *true* words before it. That is teacher forcing
# (教师强制): during training the decoder never sees its own guesses, so one early mistake
# does not spoil the rest of the sentence (一步错，步步错), and, thanks to the causal mask,
# all positions of all sentences are trained in one pass instead of one word at a time.

# %%
src, tgt = make_batches([train_ids[0][0]], [train_ids[1][0]], 100, shuffle=False)[0]
decoder_in, labels = tgt[:, :-1], tgt[:, 1:]
print("source      ", src_vocab.decode(src[0], strip_special=False), src[0])
print("decoder in  ", tgt_vocab.decode(decoder_in[0], strip_special=False))
print("labels      ", tgt_vocab.decode(labels[0], strip_special=False))

# %% [markdown]
# The model: d_model 64, 4 heads, 2 encoder and 2 decoder layers, feed-forward width 128
# (the paper's base model has 512, 8, 6 and 2048). `model(src, decoder_in)` is the
# teacher-forced pass: logits (batch, T, vocabulary) for every position at once.
#
# The causal mask is what makes this honest: the logits at position t may not depend on
# the decoder inputs after t. Replace those by random tokens and the earlier logits must not
# move at all:

# %%
tt.manual_seed(0)
model = Transformer(len(src_vocab), len(tgt_vocab), d_model=64, n_heads=4, n_layers=2, d_ff=128,
                    dropout=0.1, max_len=48)
print(f"model: {model.num_parameters():,} parameters")
with evaluating(model), tt.no_grad():
    honest = model(src, decoder_in).numpy()
    garbled = decoder_in.copy()
    garbled[:, 3:] = np.random.default_rng(0).integers(4, len(tgt_vocab), garbled[:, 3:].shape)
    peeking = model(src, garbled).numpy()
check("largest change of the logits at positions 0-2 when the later inputs change",
      np.abs(honest[:, :3] - peeking[:, :3]).max(), 0.0, source="(the causal mask)")
print(f"(and at the changed positions themselves: up to "
      f"{np.abs(honest[:, 3:] - peeking[:, 3:]).max():.2f})")

# %% [markdown]
# The loss is the cross-entropy of the labels, averaged over the real tokens: `ignore_index`
# leaves out the padding. Flattening (batch, T, V) to (batch·T, V) rows is torch's layout. By
# hand it is minus the mean log-probability of the right next tokens:

# %%
batch = make_batches(*train_ids, 1000, seed=0)[0]
logits = model(batch[0], batch[1][:, :-1])
rows, targets = logits.flatten(0, 1), batch[1][:, 1:].reshape(-1)
loss = F.cross_entropy(rows, targets, ignore_index=PAD)
log_p = F.log_softmax(rows, dim=-1).numpy()
real = targets != PAD
check("cross-entropy of one batch before training", loss.item(),
      -log_p[np.arange(len(targets)), targets][real].mean(), tol=1e-5,
      source="by hand (-mean log p)")
print(f"(ln of the vocabulary size, a uniform guess: {math.log(len(tgt_vocab)):.3f})")

# %% [markdown]
# ## Training
# Adam with the paper's warm-up schedule (`NoamSchedule`: the learning rate rises for 200
# steps, then falls as 1/√step), label smoothing 0.1 (the labels ask for 90 % on the right
# token, the rest spread over the others, so the model does not become over-confident),
# dropout 0.1, gradient clipping. Every 100 steps the dev loss (teacher-forced, no
# smoothing, no dropout) is measured on sentences the model never trains on. It ends up
# below the training loss: the smoothed labels keep the training loss from going to 0.

# %%
steps = 60 if QUICK else 600
optimizer = Adam(model.parameters(), lr=0.0, betas=(0.9, 0.98), eps=1e-9)
schedule = NoamSchedule(optimizer, d_model=64, warmup_steps=200)
dev_batches = make_batches(*dev_ids, 2000, shuffle=False)


@tt.no_grad()
def dev_loss():
    total, count = 0.0, 0
    with evaluating(model):
        for s, t in dev_batches:
            n = int((t[:, 1:] != PAD).sum())
            logits = model(s, t[:, :-1])
            total += F.cross_entropy(logits.flatten(0, 1), t[:, 1:].reshape(-1),
                                     ignore_index=PAD).item() * n
            count += n
    return total / count


history, dev_history = [], [(0, dev_loss())]
started, step, epoch = time.perf_counter(), 0, 0
while step < steps:
    for s, t in make_batches(*train_ids, 1000, seed=epoch):     # a new order every epoch
        logits = model(s, t[:, :-1])                             # teacher forcing
        loss = F.cross_entropy(logits.flatten(0, 1), t[:, 1:].reshape(-1), ignore_index=PAD,
                               label_smoothing=0.1)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        history.append(loss.item())
        if step % 100 == 0 or step == steps:
            dev_history.append((step, dev_loss()))
            print(f"step {step}: training loss {np.mean(history[-50:]):.3f}, dev loss "
                  f"{dev_history[-1][1]:.3f}, {time.perf_counter() - started:.0f} s")
        if step == steps:
            break
    epoch += 1
print(f"trained {steps} steps ({epoch} passes over the data) in "
      f"{time.perf_counter() - started:.1f} s")

fig, ax = plt.subplots(figsize=(7.5, 4.2))
ax.plot(range(1, steps + 1), history, color="tab:blue", alpha=0.3, lw=0.8,
        label="training loss of each batch (label-smoothed)")
window = max(1, min(25, steps // 4))
ax.plot(range(window, steps + 1), np.convolve(history, np.ones(window) / window, "valid"),
        color="tab:blue", label=f"its running mean over {window} steps")
ax.plot(*zip(*dev_history), "o-", color="tab:orange",
        label="dev loss (teacher-forced, no smoothing)")
ax.set(xlabel="step", ylabel="cross-entropy per token", ylim=(0, None),
       title="Training the Transformer on the built-in corpus")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(OUT / "07_loss.png", dpi=100)
print("wrote", OUT / "07_loss.png")

# %% [markdown]
# ## Does it translate?
# A `Translator` is the model with its two vocabularies: it tokenizes, decodes (greedy by
# default) and puts the English back together (capitals for names). First sentences it
# trained on, then held-out ones it has never seen.

# %%
translator = Translator(model, src_vocab, tgt_vocab, proper_nouns=ENGLISH_PROPER_NOUNS)
seen = DOC_EXAMPLES + FIXED_PHRASES[:3] + splits["train"][len(DOC_EXAMPLES + FIXED_PHRASES):][:5]
right = 0
for zh, en in seen:
    out = translator.translate(zh)
    right += out == en
    print(f"  {zh}  ->  {out}    {'right' if out == en else 'reference: ' + en}")
print(f"training sentences translated exactly right: {right} of {len(seen)}")
test = splits["test"]
bleu = corpus_bleu(translator.translate([zh for zh, _ in test]), [en for _, en in test])
print(f"BLEU on {len(test)} held-out sentences: {bleu:.1f}")
if not QUICK:
    assert translator.translate("好久不见。") == "Long time no see."

# %% [markdown]
# ## Greedy decoding, one token at a time
# At translation time there is no teacher: the decoder must feed on its own output (the
# notes: 需要输入一个代表开始的特殊符号 ... 假如得到的是 "long"，然后 "long" 又传递到下一个). The
# encoder runs once; then, starting from `<s>`, the decoder gives a distribution over the
# next token, we take the most likely one (greedy), append it, and go on until `</s>`.
# `<pad>` and `<s>` are never chosen (their logits are set to -inf), as in `greedy_decode`.

# %%
sentence = "好久不见。"
source = translator.encode_sources([sentence])                    # ids of 好 久 不 见 。 </s>
banned = np.zeros(len(tgt_vocab), dtype=np.float32)
banned[[PAD, BOS]] = -np.inf
with evaluating(model), tt.no_grad():
    memory, memory_mask = model.encode(source)                    # the encoder, once
    prefix = [BOS]
    for position in range(20):
        logits = model.decode(np.array([prefix]), memory, memory_mask)   # (1, t, V)
        probs = F.softmax(logits[0, -1] + tt.tensor(banned), dim=-1).numpy()
        best = np.argsort(-probs)[:3]
        so_far = " ".join(tgt_vocab.decode(prefix, strip_special=False))
        runners_up = ", ".join(f"{tgt_vocab.itos[i]!r} {probs[i]:.2f}" for i in best[1:])
        print(f"  step {position + 1}: after {so_far!r:40} -> {tgt_vocab.itos[best[0]]!r} "
              f"(p = {probs[best[0]]:.2f}; then {runners_up})")
        prefix.append(int(best[0]))
        if best[0] == EOS:
            break
by_hand = prefix[1:-1] if prefix[-1] == EOS else prefix[1:]
library = greedy_decode(model, source, BOS, EOS, max_len=20)[0]
print(f"greedy, step by step: {tgt_vocab.decode(by_hand)}   "
      f"greedy_decode: {tgt_vocab.decode(library)}")
check("tokens where the step-by-step loop and greedy_decode differ",
      sum(a != b for a, b in zip(by_hand, library)) + abs(len(by_hand) - len(library)), 0,
      source="(the same algorithm)")

# %% [markdown]
# ## Beam search
# Greedy takes the best next token and never looks back; a token that looked best may lead
# to a worse sentence. Beam search keeps the k best partial translations (by the sum of their
# log-probabilities), extends each by every token, and keeps the k best again, until they end
# in `</s>`. A length penalty ((5 + L) / 6)^0.6 keeps it from preferring short sentences just
# because they have fewer terms to add. Below: the held-out sentences decoded both ways, and
# those where the two differ, with the model's log-probability of each whole output (beam
# search usually finds the more probable one; more probable is not always more right).

# %%
@tt.no_grad()
def log_probability(zh, en_ids):
    """log p(en | zh) under the model: teacher-forced, summed over the tokens and </s>."""
    with evaluating(model):
        s = translator.encode_sources([zh])
        t = np.array([[BOS] + en_ids + [EOS]])
        log_p = F.log_softmax(model(s, t[:, :-1]), dim=-1).numpy()[0]
    return log_p[np.arange(t.shape[1] - 1), t[0, 1:]].sum()


source = translator.encode_sources([zh for zh, _ in test])
greedy = greedy_decode(model, source, BOS, EOS, max_len=40)
beam = beam_search(model, source, BOS, EOS, beam_size=4, max_len=40)
differ = [i for i in range(len(test)) if greedy[i] != beam[i]]
references = [en for _, en in test]
print(f"beam 4 and greedy differ on {len(differ)} of {len(test)} held-out sentences; BLEU greedy "
      f"{corpus_bleu([translator.detokenize(g) for g in greedy], references):.1f}, beam 4 "
      f"{corpus_bleu([translator.detokenize(b) for b in beam], references):.1f}")
for i in differ[:3]:
    zh, en = test[i]
    print(f"  {zh}   (reference: {en})\n"
          f"      greedy: {translator.detokenize(greedy[i])}   log p = "
          f"{log_probability(zh, greedy[i]):.2f}\n"
          f"      beam 4: {translator.detokenize(beam[i])}   log p = "
          f"{log_probability(zh, beam[i]):.2f}")


# %% [markdown]
# ## The KV cache
# Greedy decoding above ran the decoder on the whole prefix at every step: step t works on t
# tokens, so n steps cost about n²/2 token-steps. But the keys and values of the earlier
# tokens do not change when a token is appended (the causal mask: earlier positions never
# look at later ones). So each decoder layer can keep them (the KV cache) and compute only
# the new token's; the cross-attention's keys and values, from the encoder output, are
# computed once. `greedy_decode(..., use_cache=True)` (the default) does that. Same tokens,
# less work:

# %%
batch = translator.encode_sources([zh for zh, _ in test[:64]])


def timed_decode(use_cache):
    started = time.perf_counter()
    outputs = greedy_decode(model, batch, BOS, EOS, max_len=40, use_cache=use_cache)
    return outputs, time.perf_counter() - started


(uncached, slow), (cached, fast) = timed_decode(False), timed_decode(True)
slow, fast = min(slow, timed_decode(False)[1]), min(fast, timed_decode(True)[1])  # best of two
check("sentences where cached and uncached decoding differ",
      sum(a != b for a, b in zip(cached, uncached)), 0, source="(the same computation)")
length = np.mean([len(o) for o in cached])
print(f"greedy decoding of {len(cached)} sentences (about {length:.0f} tokens each): without "
      f"the cache {slow:.3f} s, with it {fast:.3f} s: {slow / fast:.1f} times faster")

# %% [markdown]
# ## What the decoder looks at: cross-attention
# For each English token it produces (rows), the decoder's cross-attention weights over the
# Chinese source tokens (columns), from the last decoder layer: one panel per head and their
# mean. The sentence is the notes' 我昨天在公园见了他 -> "I saw him in the park yesterday":
# Chinese puts the time and the place before the verb, English after the object, so a good
# model's attention leaves the diagonal. (A short-trained model's, in quick mode, is mostly a
# blur.)

# %%
CJK_FONTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han Sans", "WenQuanYi", "AR PL",
             "Droid Sans Fallback", "SimHei", "Microsoft YaHei", "PingFang", "Heiti",
             "Hiragino Sans GB", "Noto Sans SC")


def chinese_labels(tokens):
    """Tokens as axis labels and their rotation: upright characters with a CJK font, else
    the Chinese ones as code points, turned sideways."""
    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    font = next((n for want in CJK_FONTS for n in names if want.lower() in n.lower()), None)
    if font:
        plt.rcParams["font.sans-serif"] = [font] + plt.rcParams["font.sans-serif"]
        return tokens, 0
    print("note: no Chinese font found, so Chinese characters are labelled by their code points "
          "(" + ", ".join(f"U+{ord(t):04X} = {t}" for t in tokens
                          if len(t) == 1 and not t.isascii())
          + "); to see the characters: sudo apt install fonts-noto-cjk, then "
          "rm -rf ~/.cache/matplotlib")
    return [t if t.isascii() or len(t) != 1 else f"U+{ord(t):04X}" for t in tokens], 90


sentence = "我昨天在公园见了他。"
src_tokens, out_tokens, weights = translator.cross_attention(sentence)   # (heads, T, S)
print(f"{sentence} -> {translator.translate(sentence)}")
src_labels, rotation = chinese_labels(src_tokens)
panels = [(f"head {h}", weights[h]) for h in range(len(weights))] + [("mean of the heads",
                                                                      weights.mean(axis=0))]
fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.9))
for ax, (title, w) in zip(axes, panels):
    ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(src_labels)), src_labels, rotation=rotation, fontsize=9)
    ax.set_xlabel("Chinese source token")
    ax.set_yticks(range(len(out_tokens)), out_tokens if ax is axes[0] else [""] * len(out_tokens),
                  fontsize=9)
    ax.set_title(title)
axes[0].set_ylabel("English output token")
fig.suptitle("Cross-attention of the last decoder layer (rows: output token; each row sums to 1)")
fig.tight_layout()
fig.savefig(OUT / "07_cross_attention.png", dpi=100)
print("wrote", OUT / "07_cross_attention.png")
