"""The CBOW and skip-gram losses against finite differences and a transcription
of their formulas; the batches against the window formula; Tensor.index_add_,
the sparse SGD step."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
from tinytransformer import word2vec as w2v


# ----------------------------------------------------------------------------------------
# Tensor.index_add_
# ----------------------------------------------------------------------------------------
def test_index_add_accumulates_repeated_rows():
    w = tt.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    before = w.numpy().copy()
    source = np.array([[1, 2, 3], [10, 20, 30], [100, 200, 300], [5, 5, 5]], dtype=np.float32)
    out = w.index_add_(0, np.array([0, 2, 0, -1]), tt.tensor(source))
    assert out is w
    expected = before.copy()
    expected[0] += source[0] + source[2]
    expected[2] += source[1]
    expected[3] += source[3]
    assert_array_equal(w.numpy(), expected)


def test_index_add_on_1d_and_on_a_parameter_leaf():
    v = tt.zeros(3)
    v.index_add_(0, tt.tensor(np.array([1, 1, 2])), tt.tensor([1.0, 2.0, 3.0]))
    assert_array_equal(v.numpy(), [0, 3, 3])
    p = tt.Parameter(tt.zeros(2, 2))          # a leaf that requires grad: under no_grad, as torch
    with tt.no_grad():
        p.index_add_(0, np.array([1]), tt.ones(1, 2))
    assert_array_equal(p.numpy(), [[0, 0], [1, 1]])
    assert p.grad_fn is None and p.grad is None


def test_index_add_refuses_bad_arguments():
    w = tt.zeros(3, 2)
    with pytest.raises(ValueError, match="does not fit"):
        w.index_add_(0, np.array([0, 1]), tt.ones(3, 2))
    with pytest.raises(IndexError, match="index values"):
        w.index_add_(0, np.array([3]), tt.ones(1, 2))
    with pytest.raises(TypeError, match="integer"):
        w.index_add_(0, np.array([0.0]), tt.ones(1, 2))
    with pytest.raises(TypeError, match="dtype"):
        w.index_add_(0, np.array([0]), tt.ones(1, 2, dtype=tt.float64))
    x = tt.ones(3, 2, requires_grad=True)
    y = x * 2                                 # a non-leaf in a recorded graph
    y.index_add_(0, np.array([0]), tt.ones(1, 2))   # recorded in the graph, as torch's
    assert_array_equal(y.numpy()[0], [3, 3])
    y.sum().backward()
    assert_array_equal(x.grad.numpy(), np.full((3, 2), 2.0))
    with pytest.raises(RuntimeError, match="leaf"):   # a leaf that requires grad, while recording
        x.index_add_(0, np.array([0]), tt.ones(1, 2))


# ----------------------------------------------------------------------------------------
# The losses: gradients and values
# ----------------------------------------------------------------------------------------
def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def random_block_arrays(seed, n=2, g=3, window=1, m=4, d=3):
    rng = np.random.default_rng(seed)
    p = g + 2 * window
    windows = (rng.random((n, g, p)) < 0.6).astype(np.float64)
    return dict(
        inputs=rng.standard_normal((n, p, d)), windows=windows,
        centres=rng.standard_normal((n, g, d)), noise=rng.standard_normal((n, m, d)),
        centre_weights=(rng.random((n, g)) < 0.8).astype(np.float64),
        cbow_noise_weights=rng.random((n, g, m)), sg_noise_weights=rng.random((n, p, m)))


def leaves(arrays, names=("inputs", "centres", "noise")):
    return {k: tt.tensor(arrays[k], requires_grad=True) for k in names}


def test_cbow_loss_gradcheck_and_value():
    a = random_block_arrays(0)
    t = leaves(a)

    def loss(inputs, centres, noise):
        return w2v.cbow_loss(inputs, a["windows"], centres, noise, a["centre_weights"],
                             a["cbow_noise_weights"])

    assert tt.gradcheck(loss, [t["inputs"], t["centres"], t["noise"]])
    expected = 0.0                       # a loop over centre words, straight from the formula
    for n in range(2):
        for i in range(3):
            h = a["windows"][n, i] @ a["inputs"][n]
            expected -= a["centre_weights"][n, i] * log_sigmoid(h @ a["centres"][n, i])
            for m in range(4):
                expected -= a["cbow_noise_weights"][n, i, m] * log_sigmoid(-h @ a["noise"][n, m])
    assert loss(t["inputs"], t["centres"], t["noise"]).item() == pytest.approx(expected, rel=1e-12)


def test_skipgram_loss_gradcheck_and_value():
    a = random_block_arrays(1)
    t = leaves(a)

    def loss(inputs, centres, noise):
        return w2v.skipgram_loss(inputs, a["windows"], centres, noise, a["sg_noise_weights"])

    assert tt.gradcheck(loss, [t["inputs"], t["centres"], t["noise"]])
    expected = 0.0                       # a loop over (context, centre) pairs and noise terms
    for n in range(2):
        for p in range(5):
            x = a["inputs"][n, p]
            for i in range(3):
                expected -= a["windows"][n, i, p] * log_sigmoid(x @ a["centres"][n, i])
            for m in range(4):
                expected -= a["sg_noise_weights"][n, p, m] * log_sigmoid(-x @ a["noise"][n, m])
    assert loss(t["inputs"], t["centres"], t["noise"]).item() == pytest.approx(expected, rel=1e-12)


def test_a_score_beyond_the_clip_trains_nothing_in_skipgram():
    """gensim's MAX_EXP in skip-gram's composed loss: the centre word's score 9 is past
    clip 6, so its term is constant; the noise word's score 0.3 trains as without a clip.
    (CBOW's loss is the fused op, whose clip test_ops checks on the same numbers.)"""
    x = tt.tensor([[[3.0, 0.0]]], requires_grad=True)
    centre = tt.tensor([[[3.0, 0.0]]], requires_grad=True)           # score 9
    noise = tt.tensor([[[0.1, 0.0]]], requires_grad=True)            # score 0.3
    ones, half = np.ones((1, 1, 1), np.float32), np.full((1, 1, 1), 0.5, np.float32)
    value = w2v.skipgram_loss(x, ones, centre, noise, half, clip=6)
    assert_allclose(value.item(), np.logaddexp(0, -6) + 0.5 * np.logaddexp(0, 0.3), rtol=1e-6)
    value.backward()
    sigmoid = 1 / (1 + np.exp(-0.3))
    assert_array_equal(centre.grad.numpy(), 0)
    assert_allclose(noise.grad.numpy(), [[[0.5 * sigmoid * 3, 0]]], rtol=1e-6)
    assert_allclose(x.grad.numpy(), [[[0.5 * sigmoid * 0.1, 0]]], rtol=1e-6)


def test_cbow_mean_straight_through_gives_word2vecs_context_update():
    a = random_block_arrays(2, g=1, window=2)          # one centre word per block
    ones = (a["windows"] > 0).astype(np.float64)
    count = np.maximum(ones.sum(axis=2, keepdims=True), 1)
    mean, straight = leaves(a), leaves(a)
    args = (a["centre_weights"], a["cbow_noise_weights"])
    exact = w2v.cbow_loss(mean["inputs"], ones / count, mean["centres"], mean["noise"], *args)
    word2vec = w2v.cbow_loss(straight["inputs"], ones, straight["centres"], straight["noise"],
                             *args, straight_through=1 / count)
    assert word2vec.item() == pytest.approx(exact.item(), rel=1e-12)   # the same loss...
    exact.backward()
    word2vec.backward()
    for name in ("centres", "noise"):
        assert_allclose(straight[name].grad.numpy(), mean[name].grad.numpy(), rtol=1e-12)
    # ...but each context word gets the hidden vector's whole gradient, not 1/count of it
    assert_allclose(straight["inputs"].grad.numpy(), mean["inputs"].grad.numpy() * count,
                    rtol=1e-12)


# ----------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------
def test_make_batch_cuts_the_windows_of_the_formula():
    rng = np.random.default_rng(3)
    n, window, block = 40, 3, 4
    ids = rng.integers(0, 50, n).astype(np.int32)
    sentence = np.repeat(np.arange(6), [7, 1, 12, 5, 9, 6]).astype(np.int32)  # one 1-word sentence
    radius = rng.integers(1, window + 1, n).astype(np.int32)
    counts = rng.integers(1, 100, 50)
    cdf = w2v.noise_cdf(counts, 0.75)
    start, stop = 5, 31                                 # 26 centres: 6 full blocks + 2
    for sg in (0, 1):
        b = w2v.make_batch(ids, sentence, radius, start, stop, window, block, 8, 5, cdf,
                            np.random.default_rng(0), sg)
        assert b.windows.shape == (7, block, block + 2 * window)
        expected = np.zeros_like(b.windows)
        pairs = 0
        for c in range(start, stop):
            j, i = divmod(c - start, block)
            assert b.centres[j, i] == ids[c]
            for o in range(-radius[c], radius[c] + 1):
                if o and 0 <= c + o < n and sentence[c + o] == sentence[c]:
                    first = start + j * block - window      # corpus position of column 0
                    expected[j, i, c + o - first] = 1
                    assert b.positions[j, c + o - first] == ids[c + o]
                    pairs += 1
        assert_array_equal(b.windows, expected)
        assert b.pairs == pairs and b.examples == (pairs if sg else (b.count > 0).sum())
        assert_array_equal(b.centre_weights, b.count > 0)
        assert b.centre_weights[-1, 2:].sum() == 0          # padding past `stop`
        # K/M per noise word, 0 where it is the centre word itself
        same = b.noise[:, None, :] == b.centres[:, :, None]
        cbow_weights = np.where(same, 0, 5 / 8) * b.centre_weights[..., None]
        if sg:
            assert_allclose(b.noise_weights, expected.swapaxes(1, 2) @ cbow_weights, rtol=1e-6)
        else:
            assert_allclose(b.noise_weights, cbow_weights, rtol=1e-6)


def test_row_scale_caps_a_words_update_at_row_cap_examples():
    ids = np.array([[1, 1, 2], [3, 1, 2]])
    uses = np.array([[40.0, 40.0, 10.0], [70.0, 0.0, 10.0]])
    scale = w2v.row_scale(ids, uses, 64)  # at most 64 examples per word
    assert_allclose(scale, [[0.8, 0.8, 1.0], [64 / 70, 0.8, 1.0]], rtol=1e-6)


def test_cbow_loss_on_a_real_batch_equals_the_composed_formula():
    """cbow_loss (the fused F.negative_sampling_loss) on a batch cut by make_batch, with
    CBOW-mean's straight-through factor, against tt.reference.negative_sampling_loss, the
    formula in small operations: the same loss and the same gradient of every row (float64)."""
    rng = np.random.default_rng(5)
    n, window, block, vocab, d = 60, 2, 4, 12, 3
    ids = rng.integers(0, vocab, n).astype(np.int32)
    sentence = np.repeat(np.arange(3), [25, 15, 20]).astype(np.int32)
    radius = rng.integers(1, window + 1, n).astype(np.int32)
    cdf = w2v.noise_cdf(rng.integers(1, 50, vocab), 0.75)
    b = w2v.make_batch(ids, sentence, radius, 3, 50, window, block, 6, 5, cdf,
                       np.random.default_rng(1), 0)
    tables = [rng.standard_normal((vocab, d)), rng.standard_normal((vocab, d))]
    factor = (1 / np.maximum(b.count, 1))[..., None]
    results = []
    for loss in (w2v.cbow_loss, None):
        rows = [tt.tensor(tables[t][i], requires_grad=True)
                for t, i in ((0, b.positions), (1, b.centres), (1, b.noise))]
        if loss is None:
            value = tt.reference.negative_sampling_loss(rows[0], rows[1], rows[2], b.windows,
                                                        b.centre_weights, b.noise_weights, factor)
        else:
            value = loss(rows[0], b.windows, rows[1], rows[2], b.centre_weights, b.noise_weights,
                         straight_through=factor)
        value.backward()
        results.append((value.item(), [r.grad.numpy() for r in rows]))
    (fused, fused_grads), (composed, composed_grads) = results
    assert fused == pytest.approx(composed, rel=1e-12) and composed > 1
    for a, b_ in zip(fused_grads, composed_grads):
        assert_allclose(a, b_, rtol=1e-10, atol=1e-14)
        assert np.abs(a).max() > 1e-3
