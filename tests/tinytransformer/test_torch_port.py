"""Weights ported from torch.nn.Transformer / nn.MultiheadAttention give the same outputs.

Checks the claim of tinytransformer/transformer.py: the layer structure,
LayerNorm placement (final encoder and decoder norms included) and defaults
match torch.nn.Transformer, so ported weights reproduce its outputs
(q_proj/k_proj/v_proj = in_proj_weight split in three; linear1/linear2/norm*
keep torch's names). Everything runs in float64 and is compared tightly.

Needs PyTorch; skipped where it is not installed (as on CI).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tinytensor as tt  # noqa: E402
import tinytransformer  # noqa: E402
from tinytransformer.utils.torch_port import (attention_state_from_torch,  # noqa: E402
                                              transformer_state_from_torch)

pytestmark = pytest.mark.filterwarnings(
    "ignore:enable_nested_tensor is True:UserWarning",          # nn.Transformer, norm_first
    "ignore:The PyTorch API of nested tensors:UserWarning")     # torch's eval fast path

RTOL, ATOL = 1e-8, 1e-10
D_MODEL, N_HEADS, N_LAYERS, D_FF = 8, 2, 2, 12
SRC_VOCAB, TGT_VOCAB, PAD = 9, 11, 0


@pytest.fixture
def rng():
    """A seeded NumPy generator (this file also runs with --noconftest)."""
    return np.random.default_rng(1234)


# -- porting (tinytransformer.utils.torch_port) ------------------------------------------
def port_attention(torch_attn, ours):
    """Copy a torch.nn.MultiheadAttention into our MultiHeadAttention; returns the
    number of torch tensors used (all of them, or this raises)."""
    ours.load_state_dict(attention_state_from_torch(torch_attn), strict=True)
    return len(list(torch_attn.parameters()))


def port_weights(torch_transformer, ours):
    """Copy every parameter of a torch.nn.Transformer into ours.encoder / ours.decoder;
    returns the number of torch tensors ported, checked to be all of them."""
    state = transformer_state_from_torch(torch_transformer)
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert unexpected == []
    # Only what lives outside nn.Transformer (embeddings, output layer) stays unported.
    assert all(not name.startswith(("encoder.", "decoder.")) for name in missing), missing
    n_ours = sum(1 for name, _ in ours.named_parameters()
                 if name.startswith(("encoder.", "decoder.")))
    assert len(state) == n_ours   # each in_proj gives 6 of ours; every one of ours is set
    return len(list(torch_transformer.parameters()))


def make_pair(norm_first, seed=0):
    """A float64 torch.nn.Transformer and our Transformer holding the same weights."""
    torch.manual_seed(seed)
    reference = torch.nn.Transformer(D_MODEL, N_HEADS, N_LAYERS, N_LAYERS, D_FF, dropout=0.0,
                                     batch_first=True, norm_first=norm_first).double()
    # Move the LayerNorm weights off their (1, 0) start so the norms are really tested.
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    tt.manual_seed(seed + 1)
    ours = tinytransformer.Transformer(SRC_VOCAB, TGT_VOCAB, d_model=D_MODEL, n_heads=N_HEADS,
                          n_layers=N_LAYERS, d_ff=D_FF, dropout=0.0, max_len=32,
                          norm_first=norm_first).double()
    port_weights(reference, ours)
    return reference, ours


def random_inputs(rng, batch=3, src_len=6, tgt_len=5):
    """float64 source/target vectors, with some shorter (padded) sentences."""
    src = rng.standard_normal((batch, src_len, D_MODEL))
    tgt = rng.standard_normal((batch, tgt_len, D_MODEL))
    src_pad = np.zeros((batch, src_len), dtype=bool)
    tgt_pad = np.zeros((batch, tgt_len), dtype=bool)
    src_pad[0, -2:] = True     # the first source sentence is two tokens shorter
    src_pad[2, -1:] = True
    tgt_pad[1, -3:] = True     # the second target sentence is three tokens shorter
    return src, tgt, src_pad, tgt_pad


def torch_causal_mask(length):
    """Bool (T, T), True where NOT allowed (above the diagonal)."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def run_torch(reference, src, tgt, src_pad, tgt_pad):
    src_t, tgt_t = torch.from_numpy(src), torch.from_numpy(tgt)
    src_pad_t, tgt_pad_t = torch.from_numpy(src_pad), torch.from_numpy(tgt_pad)
    memory = reference.encoder(src_t, src_key_padding_mask=src_pad_t)
    out = reference.decoder(tgt_t, memory, tgt_mask=torch_causal_mask(tgt.shape[1]),
                            tgt_key_padding_mask=tgt_pad_t, memory_key_padding_mask=src_pad_t)
    return memory.detach().numpy(), out.detach().numpy()


def run_ours(ours, src, tgt, src_pad, tgt_pad):
    memory = ours.encoder(tt.tensor(src), src_pad)
    out = ours.decoder(tt.tensor(tgt), memory, tgt_pad, src_pad)
    return memory.numpy(), out.numpy()


# -- tests ---------------------------------------------------------------------------
def test_defaults_match_torch():
    """LayerNorm eps, activation, and the presence of the final norms."""
    reference, ours = make_pair(norm_first=False)
    torch_norms = [m for m in reference.modules() if isinstance(m, torch.nn.LayerNorm)]
    our_norms = [m for m in ours.modules() if isinstance(m, tinytransformer.LayerNorm)]
    assert len(torch_norms) == len(our_norms) == 2 * N_LAYERS + 3 * N_LAYERS + 2
    assert {m.eps for m in torch_norms} == {m.eps for m in our_norms} == {1e-5}
    assert reference.encoder.norm is not None and reference.decoder.norm is not None
    assert reference.encoder.layers[0].activation is torch.nn.functional.relu


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_port_weights_uses_every_tensor(norm_first):
    reference, ours = make_pair(norm_first)
    n = port_weights(reference, ours)
    # Per encoder layer: in_proj 2 + out_proj 2 + linears 4 + norms 4 = 12 tensors;
    # per decoder layer: two attentions 8 + linears 4 + norms 6 = 18; final norms 4.
    assert n == len(list(reference.parameters())) == N_LAYERS * (12 + 18) + 4
    weight = reference.encoder.layers[1].self_attn.in_proj_weight.detach().numpy()
    np.testing.assert_array_equal(ours.encoder.layers[1].self_attn.k_proj.weight.numpy(),
                                  weight[D_MODEL:2 * D_MODEL])
    np.testing.assert_array_equal(
        ours.decoder.layers[0].cross_attn.v_proj.bias.numpy(),
        reference.decoder.layers[0].multihead_attn.in_proj_bias.detach().numpy()[2 * D_MODEL:])


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_encoder_decoder_match_torch(norm_first, rng):
    """Our Encoder/Decoder stacks vs torch's, same weights, same input vectors, with
    padding masks and the causal mask; torch in train mode (dropout 0), so it takes
    its reference (non fast-path) implementation and padded positions are comparable."""
    reference, ours = make_pair(norm_first)
    reference.train()
    ours.train()
    src, tgt, src_pad, tgt_pad = random_inputs(rng)
    memory_ref, out_ref = run_torch(reference, src, tgt, src_pad, tgt_pad)
    memory, out = run_ours(ours, src, tgt, src_pad, tgt_pad)
    assert memory.dtype == out.dtype == np.float64
    np.testing.assert_allclose(memory, memory_ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out, out_ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_encoder_decoder_match_torch_eval_fast_path(norm_first, rng):
    """torch in eval mode under no_grad may take its fused "fast path" (post-norm
    encoder: nested tensors, so padded positions are never computed and come out as
    zeros before the final norm): compare the non-padded memory positions, and the
    whole decoder output."""
    reference, ours = make_pair(norm_first)
    reference.eval()
    ours.eval()
    src, tgt, src_pad, tgt_pad = random_inputs(rng)
    with torch.no_grad():
        memory_ref, out_ref = run_torch(reference, src, tgt, src_pad, tgt_pad)
    memory, out = run_ours(ours, src, tgt, src_pad, tgt_pad)
    np.testing.assert_allclose(memory[~src_pad], memory_ref[~src_pad], rtol=RTOL, atol=ATOL)
    # Padded memory rows are masked out of the cross-attention, so the decoder output
    # does not depend on them, whatever torch put there.
    np.testing.assert_allclose(out, out_ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_full_model_matches_torch_forward(norm_first, rng):
    """Our Transformer.forward (ids -> logits) vs torch.nn.Transformer.forward fed our
    own embeddings (embedding and output layers are outside nn.Transformer)."""
    reference, ours = make_pair(norm_first)
    reference.train()
    src_ids = rng.integers(4, SRC_VOCAB, (3, 6))
    tgt_ids = rng.integers(4, TGT_VOCAB, (3, 5))
    src_ids[0, -2:] = PAD
    tgt_ids[1, -3:] = PAD
    logits = ours(src_ids, tgt_ids).numpy()

    src_vec = ours.embed(ours.src_embed, src_ids).numpy()
    tgt_vec = ours.embed(ours.tgt_embed, tgt_ids).numpy()
    src_pad = torch.from_numpy(src_ids == PAD)
    h = reference(torch.from_numpy(src_vec), torch.from_numpy(tgt_vec),
                  tgt_mask=torch_causal_mask(tgt_ids.shape[1]), src_key_padding_mask=src_pad,
                  tgt_key_padding_mask=torch.from_numpy(tgt_ids == PAD),
                  memory_key_padding_mask=src_pad)
    logits_ref = ours.project(tt.tensor(h.detach().numpy())).numpy()
    np.testing.assert_allclose(logits, logits_ref, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
def test_encoder_decoder_gradients_match_torch(norm_first, rng):
    """Backward too: the gradients of every ported parameter and of the inputs agree."""
    reference, ours = make_pair(norm_first)
    reference.train()
    src, tgt, src_pad, tgt_pad = random_inputs(rng)
    grad_out = rng.standard_normal(tgt.shape)

    src_t = torch.tensor(src, requires_grad=True)
    tgt_t = torch.tensor(tgt, requires_grad=True)
    src_pad_t, tgt_pad_t = torch.from_numpy(src_pad), torch.from_numpy(tgt_pad)
    memory_t = reference.encoder(src_t, src_key_padding_mask=src_pad_t)
    out_t = reference.decoder(tgt_t, memory_t, tgt_mask=torch_causal_mask(tgt.shape[1]),
                              tgt_key_padding_mask=tgt_pad_t, memory_key_padding_mask=src_pad_t)
    out_t.backward(torch.from_numpy(grad_out))

    x, y = tt.tensor(src, requires_grad=True), tt.tensor(tgt, requires_grad=True)
    out = ours.decoder(y, ours.encoder(x, src_pad), tgt_pad, src_pad)
    out.backward(tt.tensor(grad_out))

    np.testing.assert_allclose(x.grad.numpy(), src_t.grad.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(y.grad.numpy(), tgt_t.grad.numpy(), rtol=1e-7, atol=1e-10)
    # Port the torch gradients as if they were weights, and compare name by name.
    grads = tinytransformer.Transformer(SRC_VOCAB, TGT_VOCAB, d_model=D_MODEL, n_heads=N_HEADS,
                           n_layers=N_LAYERS, d_ff=D_FF, dropout=0.0, norm_first=norm_first)
    grads = grads.double()
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(p.grad)
    port_weights(reference, grads)
    expected = dict(grads.named_parameters())
    for name, p in ours.named_parameters():
        if name.startswith(("encoder.", "decoder.")):
            np.testing.assert_allclose(p.grad.numpy(), expected[name].numpy(), rtol=1e-7,
                                       atol=1e-10, err_msg=name)


# -- a single attention layer ----------------------------------------------------------
def make_attention_pair(seed=0):
    torch.manual_seed(seed)
    reference = torch.nn.MultiheadAttention(D_MODEL, N_HEADS, batch_first=True,
                                            dtype=torch.float64)
    with torch.no_grad():   # torch starts in_proj_bias/out_proj.bias at zero
        reference.in_proj_bias.uniform_(-0.5, 0.5)
        reference.out_proj.bias.uniform_(-0.5, 0.5)
    tt.manual_seed(seed + 1)
    ours = tinytransformer.MultiHeadAttention(D_MODEL, N_HEADS).double()
    assert port_attention(reference, ours) == 4
    return reference, ours


@pytest.mark.parametrize("mask_kind", ["none", "key_padding", "attn_2d", "both_2d", "both_3d"])
def test_multihead_attention_matches_torch(mask_kind, rng):
    """Cross-attention (L_q != L_k); bool masks, True = masked out in both APIs.
    Our weights (B, h, L_q, L_k) vs torch's average_attn_weights=False output."""
    reference, ours = make_attention_pair()
    batch, lq, lk = 3, 4, 6
    query = rng.standard_normal((batch, lq, D_MODEL))
    key = rng.standard_normal((batch, lk, D_MODEL))
    value = rng.standard_normal((batch, lk, D_MODEL))
    key_padding = np.zeros((batch, lk), dtype=bool)
    key_padding[0, -2:] = True
    key_padding[2, -1] = True
    blocked = rng.random((batch, lq, lk)) < 0.3
    blocked[..., 0] = False   # every query keeps key 0, so no row is fully masked
    kwargs_ours, kwargs_torch = {}, {}
    if mask_kind in ("key_padding", "both_2d", "both_3d"):
        kwargs_ours["key_padding_mask"] = key_padding
        kwargs_torch["key_padding_mask"] = torch.from_numpy(key_padding)
    if mask_kind in ("attn_2d", "both_2d"):
        kwargs_ours["attn_mask"] = blocked[0]
        kwargs_torch["attn_mask"] = torch.from_numpy(blocked[0])
    if mask_kind == "both_3d":
        # torch's (B * h, L_q, L_k), batch-major, in both.
        per_head = np.repeat(blocked, N_HEADS, axis=0)
        kwargs_ours["attn_mask"] = per_head
        kwargs_torch["attn_mask"] = torch.from_numpy(per_head)

    out_ref, weights_ref = reference(torch.from_numpy(query), torch.from_numpy(key),
                                     torch.from_numpy(value), need_weights=True,
                                     average_attn_weights=False, **kwargs_torch)
    out, weights = ours(tt.tensor(query), tt.tensor(key), tt.tensor(value), need_weights=True,
                        average_attn_weights=False, **kwargs_ours)
    assert weights.shape == (batch, N_HEADS, lq, lk) == tuple(weights_ref.shape)
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(weights.numpy(), weights_ref.detach().numpy(), rtol=RTOL,
                               atol=ATOL)
    out_only, _ = ours(tt.tensor(query), tt.tensor(key), tt.tensor(value), need_weights=False,
                       **kwargs_ours)
    np.testing.assert_allclose(out_only.numpy(), out_ref.detach().numpy(), rtol=RTOL, atol=ATOL)


def test_fully_masked_query_matches_torch_sdpa_path(rng):
    """A query whose keys are all padding: ours gives zero weights (output = out_proj
    bias), as torch's need_weights=False (scaled_dot_product_attention) path does;
    torch's need_weights=True path gives NaN there instead, so it is not compared."""
    reference, ours = make_attention_pair()
    query, key = rng.standard_normal((2, 3, D_MODEL)), rng.standard_normal((2, 4, D_MODEL))
    key_padding = np.zeros((2, 4), dtype=bool)
    key_padding[1] = True
    out_ref, _ = reference(torch.from_numpy(query), torch.from_numpy(key), torch.from_numpy(key),
                           key_padding_mask=torch.from_numpy(key_padding), need_weights=False)
    out, _ = ours(tt.tensor(query), tt.tensor(key), tt.tensor(key), key_padding_mask=key_padding)
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out.numpy()[1], np.broadcast_to(
        reference.out_proj.bias.detach().numpy(), (3, D_MODEL)), rtol=RTOL, atol=ATOL)


def test_multihead_attention_causal_matches_torch_is_causal(rng):
    """Our is_causal=True (without an attn_mask) vs torch's explicit causal attn_mask."""
    reference, ours = make_attention_pair()
    x = rng.standard_normal((2, 5, D_MODEL))
    out_ref, weights_ref = reference(*(torch.from_numpy(x),) * 3, attn_mask=torch_causal_mask(5),
                                     need_weights=True, average_attn_weights=False)
    out, weights = ours(*(tt.tensor(x),) * 3, is_causal=True, average_attn_weights=False)
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(weights.numpy(), weights_ref.detach().numpy(), rtol=RTOL,
                               atol=ATOL)
