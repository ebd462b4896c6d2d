"""The two negative-sampling losses, written with tinytensor operations only.

For a centre word c and a word o of its context window, the model learns to
tell the real pair from K noise pairs, the noise words n_k drawn from the
unigram distribution raised to 0.75 (see sampling.py):

    loss = -log sigmoid(x . u_c) - sum_k log sigmoid(-x . u_{n_k})

u are output vectors; x is, for skip-gram, the input vector of one context word
(gensim's orientation: the context word predicts the centre word) and, for
CBOW, the mean (or sum) of the input vectors of the whole window.

How a batch is laid out (see batching.py). It is cut into blocks of G
consecutive centre words. A block reads the input vectors of the P = G + 2 *
window corpus positions its windows can reach, once; `windows` (G, P) says which
position is in which centre's window. The block's output rows are its G centre
words and M noise words that all its examples share, each weighing K / M, so
every example still gets K noise words' worth of gradient in expectation. Each
score of a block is then an entry of a matrix product.
"""
import numpy as np

import tinytensor as tt
import tinytensor.nn.functional as F
from tinytensor import Tensor, backend

__all__ = ["cbow_loss", "skipgram_loss"]


def _as_constant(array, like):
    """A weight array as a tensor of `like`'s dtype on its device (outside the graph)."""
    if isinstance(array, Tensor):
        return array
    if not hasattr(array, "shape"):
        array = np.asarray(array)
    array = backend.to_device(array, like.device)
    return Tensor(backend.xp_for(like.device).asarray(array, dtype=like.dtype))


def cbow_loss(inputs, windows, centres, noise, centre_weights, noise_weights,
              straight_through=None, clip=None):
    """CBOW negative-sampling loss of a batch of N blocks, summed over centre words.

    inputs:         (N, P, d) input vectors of the block's corpus positions
    windows:        (N, G, P) weight of position p in centre i's window: 1/count
                    for the mean of the window (cbow_mean), 1 for the sum, 0 outside
    centres:        (N, G, d) output vectors of the centre words
    noise:          (N, M, d) output vectors of the block's noise words
    centre_weights: (N, G) 1, or 0 for a centre word without a window (or padding)
    noise_weights:  (N, G, M) K/M, or 0 (a noise word equal to the centre word)

    h = windows @ inputs                    (N, G, d)  the hidden vector of each centre
    loss = -sum cw * log sig(h . u_centre) - sum nw * log sig(-h . u_noise)

    straight_through: (N, G, 1) factors f = 1/count, `windows` then holding 0/1:
    the forward pass uses the mean h = f * S of the window sum S, but the
    gradient of h reaches every context word undivided, as in word2vec.c's and
    gensim's CBOW-mean: h = S + detach(S * (f - 1)). The loss is the same.

    clip: a number c, or None: every score is clamped to [-c, c] first, so a
    term whose score lies outside trains nothing (gensim's and word2vec.c's
    MAX_EXP = 6: they skip such a term).

    That formula, written with small operations, is
    tt.reference.negative_sampling_loss:

        h = windows @ inputs
        h = h + detach(h * (straight_through - 1))       # with straight_through
        positive = (h * centres).sum(2);  negative = h @ noise^T
        positive, negative = positive.clamp(-c, c), negative.clamp(-c, c)   # with clip
        loss = -(logsigmoid(positive) * cw).sum() - (logsigmoid(-negative) * nw).sum()

    Training runs it as one fused Function, F.negative_sampling_loss (tested
    equal to the composed one in value and gradient), because this loss is
    Word2Vec's whole forward and backward.
    """
    return F.negative_sampling_loss(inputs, centres, noise, windows, centre_weights, noise_weights,
                                    scale=straight_through, clip=clip)


def skipgram_loss(inputs, windows, centres, noise, noise_weights, clip=None):
    """Skip-gram negative-sampling loss of a batch of N blocks, summed over
    (context word, centre word) pairs.

    inputs:        (N, P, d) input vectors of the block's corpus positions
    windows:       (N, G, P) 1 where position p is a context word of centre i
    centres:       (N, G, d) output vectors of the centre words
    noise:         (N, M, d) output vectors of the block's noise words
    noise_weights: (N, P, M) K/M times the number of the block's windows that
                   contain p (and whose centre word is not that noise word)

    Each pair (context position p, centre i) is one example; as in gensim, the
    context word's input vector predicts the centre word:
    loss = -sum_{p,i} windows[i,p] log sig(x_p . u_i) - sum_{p,m} nw[p,m] log sig(-x_p . u_m)
    clip: as cbow_loss's (the scores clamped to [-clip, clip]).
    """
    positive = tt.matmul(inputs, centres.swapaxes(1, 2))                           # (N, P, G)
    negative = tt.matmul(inputs, noise.swapaxes(1, 2))                             # (N, P, M)
    if clip is not None:
        positive, negative = positive.clamp(-clip, clip), negative.clamp(-clip, clip)
    windows = _as_constant(windows, inputs).swapaxes(1, 2)
    return -(tt.logsigmoid(positive) * windows).sum() \
        - (tt.logsigmoid(-negative) * _as_constant(noise_weights, inputs)).sum()
