"""Attention: "Attention Is All You Need", section 3.2.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Each query vector is compared with every key vector (dot product); dividing by
sqrt(d_k) keeps the scores from growing with the dimension, which would push
the softmax into regions with tiny gradients. Multi-head attention does this
n_heads times in parallel on d_k = d_model / n_heads dimensional projections,
so different heads can look at different positions, and concatenates them.
"""
import math

import numpy as np

import tinytensor as tt
import tinytensor.nn.functional as F

from .layers import Linear
from .module import Module

__all__ = ["scaled_dot_product_attention", "MultiHeadAttention", "causal_mask",
           "PositionalEncoding"]


scaled_dot_product_attention = F.scaled_dot_product_attention   # see tinytensor/ops/nn.py


def causal_mask(query_len, key_len=None):
    """Boolean (query_len, key_len), True where query i may see key j: j <= i.
    When the queries are the last query_len of key_len positions (incremental
    decoding with a cache), the diagonal shifts by key_len - query_len."""
    key_len = query_len if key_len is None else key_len
    return np.tri(query_len, key_len, k=key_len - query_len, dtype=bool)


class MultiHeadAttention(Module):
    """Multi-head attention (self or cross), as torch.nn.MultiheadAttention with
    batch_first=True (the default here; batch_first=False takes and gives
    (length, batch, d_model) as torch's default does).

    Parameters: q_proj, k_proj, v_proj, out_proj, each Linear(d_model, d_model);
    weight (d_model, d_model) maps model vectors to the n_heads heads' queries,
    keys and values laid side by side (head h uses features h*d_k:(h+1)*d_k).
    PyTorch's nn.MultiheadAttention keeps the first three stacked in one
    in_proj_weight (3*d_model, d_model): split it in three to port weights.
    """

    def __init__(self, d_model, n_heads, dropout=0.0, bias=True, batch_first=True):
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by "
                             f"n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.q_proj = Linear(d_model, d_model, bias)
        self.k_proj = Linear(d_model, d_model, bias)
        self.v_proj = Linear(d_model, d_model, bias)
        self.out_proj = Linear(d_model, d_model, bias)

    def split_heads(self, x):
        """(batch, length, d_model) -> (batch, n_heads, length, d_k)"""
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.n_heads, self.d_k).permute(0, 2, 1, 3)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False, *, cache=None,
                static_kv=False):
        """query (batch, L, d_model), key and value (batch, S, d_model), in torch's
        argument order. Returns (output (batch, L, d_model), weights): the
        attention weights averaged over the heads (batch, L, S), or per head
        (batch, n_heads, L, S) with average_attn_weights=False, or None with
        need_weights=False (faster: pass it when the weights are not used).

        The masks follow torch.nn.MultiheadAttention (True means "masked out",
        the opposite of F.scaled_dot_product_attention's attn_mask):
        key_padding_mask (batch, S): True at padding keys, or float, added.
        attn_mask (L, S) or (batch * n_heads, L, S): True where NOT allowed, or
        float, added to the scores.
        is_causal: query i sees only keys j <= i. torch takes it as a hint that
        attn_mask is the causal mask; here, without an attn_mask, it builds that
        mask itself (where torch raises), aligned to the last key so that it also
        holds for the new queries of a cache.
        cache: a dict for incremental decoding. Self-attention (static_kv=False)
        appends this step's keys and values to the cached ones; cross-attention
        (static_kv=True) projects the encoder output once and reuses it.
        The weights come from the fused attention: after dropout, as torch's,
        but without a gradient.
        """
        self_attention = cache is None and query is key and key is value
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if query.shape[-1] != self.d_model or key.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention(d_model={self.d_model}): got query "
                             f"{query.shape} and key {key.shape}")
        if self_attention:
            return self._self_attention(query, key_padding_mask, need_weights, attn_mask,
                                        average_attn_weights, is_causal)
        q = self.split_heads(self.q_proj(query))              # (B, h, L, d_k)
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k = self.split_heads(self.k_proj(key))            # (B, h, S, d_k)
            v = self.split_heads(self.v_proj(value))
            if cache is not None and not static_kv and "k" in cache:
                k = tt.cat([cache["k"], k], dim=2)
                v = tt.cat([cache["v"], v], dim=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v

        mask = self.attention_mask(q.shape[0], q.shape[2], k.shape[2], key_padding_mask,
                                   attn_mask, is_causal, q.device)
        out, weights = F.scaled_dot_product_attention(
            q, k, v, mask, self.dropout if self.training else 0.0, need_weights=True)
        return self._output(out, weights, need_weights, average_attn_weights)

    def _self_attention(self, x, key_padding_mask, need_weights, attn_mask, average_attn_weights,
                        is_causal):
        """forward's path when query, key and value are one tensor x (batch first) and
        there is no cache: the three projections as one product with their weights
        stacked (3 d_model, d_model), as torch's in_proj_weight, the heads split out
        of it as one (3, B, h, L, d_k) view for F.packed_attention. The same numbers as
        three products (to rounding), faster: one larger matrix product each way."""
        projections = (self.q_proj, self.k_proj, self.v_proj)
        weight = tt.cat([p.weight for p in projections])
        bias = tt.cat([p.bias for p in projections]) if self.q_proj.bias is not None else None
        batch, length, _ = x.shape
        qkv = F.linear(x, weight, bias).reshape(batch, length, 3, self.n_heads, self.d_k)
        qkv = qkv.permute(2, 0, 3, 1, 4)                           # (3, B, h, L, d_k)
        mask = self.attention_mask(batch, length, length, key_padding_mask, attn_mask,
                                   is_causal, x.device)
        out, weights = F.packed_attention(qkv, mask, self.dropout if self.training else 0.0,
                                          need_weights=True)
        return self._output(out, weights, need_weights, average_attn_weights)

    def _output(self, out, weights, need_weights, average_attn_weights):
        """The heads' outputs (B, h, L, d_k) concatenated and projected, and the weights."""
        batch, _, length, _ = out.shape
        out = out.permute(0, 2, 1, 3).reshape(batch, length, self.d_model)  # concat heads
        out = self.out_proj(out)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights

    def attention_mask(self, batch, query_len, key_len, key_padding_mask, attn_mask, is_causal,
                       device):
        """The masks as one attn_mask for F.scaled_dot_product_attention, shaped
        to broadcast against the scores (batch, n_heads, L, S): boolean, True
        where attending is allowed, when every mask is boolean; otherwise a
        float mask to add (-inf where a boolean mask blocks)."""
        def as_tensor(mask):
            return mask.to(device) if isinstance(mask, tt.Tensor) else tt.tensor(mask, device=device)

        blocked, added = [], []          # boolean "masked out" masks; float masks to add
        if key_padding_mask is not None:
            pad = as_tensor(key_padding_mask)
            (blocked if pad.dtype == tt.bool else added).append(pad.reshape(batch, 1, 1, key_len))
        if attn_mask is not None:
            mask = as_tensor(attn_mask)
            if mask.ndim == 3:           # torch's (batch * n_heads, L, S), batch-major
                mask = mask.reshape(batch, self.n_heads, query_len, key_len)
            (blocked if mask.dtype == tt.bool else added).append(mask)
        elif is_causal:
            blocked.append(tt.tensor(~causal_mask(query_len, key_len), device=device))
        if not blocked and not added:
            return None
        if not added:
            allowed = ~blocked[0]
            for b in blocked[1:]:
                allowed = allowed & ~b
            return allowed
        total = added[0]
        for a in added[1:]:
            total = total + a
        for b in blocked:
            total = total.masked_fill(b, -math.inf)
        return total

    def extra_repr(self):
        return f"d_model={self.d_model}, n_heads={self.n_heads}, dropout={self.dropout}"


class PositionalEncoding(Module):
    """Adds position information to token vectors (section 3.5).

    Sinusoidal (default): PE[pos, 2i] = sin(pos / 10000^(2i/d_model)),
    PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)): each dimension is a wave of
    its own wavelength, so relative offsets are linear functions of the codes.
    learned=True uses a trained (max_len, d_model) table instead.
    """

    def __init__(self, d_model, max_len=512, learned=False):
        self.d_model, self.max_len, self.learned = d_model, max_len, learned
        if learned:
            from .layers import normal_
            self.weight = normal_(tt.Parameter(tt.zeros(max_len, d_model)), std=0.02)
        else:
            position = np.arange(max_len)[:, None]
            frequency = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)
            table = np.zeros((max_len, d_model), dtype=np.float32)
            table[:, 0::2] = np.sin(position * frequency)
            table[:, 1::2] = np.cos(position * frequency[: d_model // 2])
            # A buffer: moves with .to(), is not trained; not saved in checkpoints either
            # (persistent=False, as torch allows), since it follows from d_model and max_len.
            self.register_buffer("table", tt.tensor(table), persistent=False)

    def forward(self, x, offset=0):
        """x: (batch, length, d_model); positions offset .. offset+length-1."""
        length = x.shape[1]
        if offset + length > self.max_len:
            raise ValueError(f"PositionalEncoding: positions up to {offset + length} asked for, "
                             f"but max_len is {self.max_len}")
        codes = (self.weight if self.learned else self.table)[offset:offset + length]
        return x + codes

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, learned={self.learned}"
