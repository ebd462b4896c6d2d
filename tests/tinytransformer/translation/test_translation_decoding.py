"""Greedy and beam decoding as the translator uses them: never <pad> or <s>, and the
cached path gives exactly the tokens of the uncached one."""
import numpy as np
import pytest

import tinytensor as tt
import tinytransformer
from tinytransformer import beam_search, greedy_decode
from tinytransformer.data import BOS, EOS, PAD

VOCAB = 12


def make_model(trained):
    tt.manual_seed(0)
    model = tinytransformer.Transformer(VOCAB, VOCAB, d_model=16, n_heads=2, n_layers=1, d_ff=32,
                                        dropout=0.0, max_len=16)
    if trained:   # a few steps of reversing sequences: confident, peaked distributions
        rng = np.random.default_rng(0)
        optimizer = tinytransformer.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(60):
            src = rng.integers(4, VOCAB, (32, 6))
            tgt = np.concatenate([np.full((32, 1), BOS), src[:, ::-1], np.full((32, 1), EOS)], 1)
            loss = tt.cross_entropy(model(src, tgt[:, :-1]).flatten(0, 1), tgt[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@pytest.fixture(scope="module", params=["untrained", "trained"])
def model(request):
    return make_model(request.param == "trained")


def sources():
    src = np.random.default_rng(1).integers(4, VOCAB, (4, 6))
    src[1, 3:] = PAD            # a shorter sentence in the batch
    src[2, 5:] = PAD
    return src


@pytest.mark.parametrize("start", [BOS, PAD], ids=["bos-start", "pad-start"])
def test_cached_and_uncached_decoding_give_identical_tokens(model, start):
    src = sources()
    greedy = greedy_decode(model, src, start, EOS, max_len=10)
    assert greedy == greedy_decode(model, src, start, EOS, max_len=10, use_cache=False)
    beam = beam_search(model, src, start, EOS, beam_size=3, max_len=10)
    assert beam == beam_search(model, src, start, EOS, beam_size=3, max_len=10, use_cache=False)
    for row in greedy + beam:
        assert PAD not in row and BOS not in row


def test_decoding_never_emits_pad_or_start_even_when_the_model_prefers_them():
    model = make_model(trained=False)
    src = sources()

    def decode_all():
        outputs = []
        for use_cache in (True, False):
            outputs += greedy_decode(model, src, BOS, EOS, max_len=8, use_cache=use_cache)
            outputs += beam_search(model, src, BOS, EOS, beam_size=2, max_len=8,
                                   use_cache=use_cache)
        return outputs

    before = decode_all()
    with tt.no_grad():   # make <pad> and <s> by far the likeliest outputs
        bias = model.output_bias.numpy()
        bias[[PAD, BOS]] += 50.0
        model.output_bias.data = tt.tensor(bias).data
    outputs = decode_all()
    assert all(PAD not in row and BOS not in row for row in outputs), outputs
    # They are masked out before the softmax, so how likely the model finds them changes
    # nothing: the same translations as before.
    assert outputs == before and any(len(row) > 0 for row in outputs)
    _, scores = greedy_decode(model, src, BOS, EOS, max_len=3, return_scores=True)
    assert np.isneginf(scores[..., [PAD, BOS]]).all()
    np.testing.assert_allclose(np.exp(scores).sum(-1), 1.0, rtol=1e-5)
