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
    """Multi-head attention (self or cross).

    Parameters: q_proj, k_proj, v_proj, out_proj, each Linear(d_model, d_model);
    weight (d_model, d_model) maps model vectors to the n_heads heads' queries,
    keys and values laid side by side (head h uses features h*d_k:(h+1)*d_k).
    PyTorch's nn.MultiheadAttention keeps the first three stacked in one
    in_proj_weight (3*d_model, d_model): split it in three to port weights.
    """

    def __init__(self, d_model, n_heads, dropout=0.0, bias=True):
        if d_model % n_heads:
            raise ValueError(f"MultiHeadAttention: d_model={d_model} is not divisible by "
                             f"n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_k = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = Linear(d_model, d_model, bias)
        self.k_proj = Linear(d_model, d_model, bias)
        self.v_proj = Linear(d_model, d_model, bias)
        self.out_proj = Linear(d_model, d_model, bias)

    def split_heads(self, x):
        """(batch, length, d_model) -> (batch, n_heads, length, d_k)"""
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.n_heads, self.d_k).permute(0, 2, 1, 3)

    def forward(self, query, key, value, key_padding_mask=None, causal=False, attn_mask=None,
                need_weights=False, cache=None, static_kv=False):
        """query (batch, L_q, d_model), key and value (batch, L_k, d_model).

        key_padding_mask: boolean (batch, L_k), True at padding keys (ignored).
        causal: query i sees only keys j <= i (the decoder's self-attention).
        attn_mask: boolean (L_q, L_k) or (batch, L_q, L_k), True where NOT allowed.
        (Both masks follow torch.nn.MultiheadAttention: True means "masked out".)
        cache: a dict for incremental decoding. Self-attention (static_kv=False)
        appends this step's keys and values to the cached ones; cross-attention
        (static_kv=True) projects the encoder output once and reuses it.
        Returns (batch, L_q, d_model), and the weights (batch, n_heads, L_q, L_k)
        if need_weights.
        """
        if query.shape[-1] != self.d_model or key.shape[-1] != self.d_model:
            raise ValueError(f"MultiHeadAttention(d_model={self.d_model}): got query "
                             f"{query.shape} and key {key.shape}")
        q = self.split_heads(self.q_proj(query))              # (B, h, L_q, d_k)
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k = self.split_heads(self.k_proj(key))            # (B, h, L_k, d_k)
            v = self.split_heads(self.v_proj(value))
            if cache is not None and not static_kv and "k" in cache:
                k = tt.concatenate([cache["k"], k], axis=2)
                v = tt.concatenate([cache["v"], v], axis=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v

        allowed = self.allowed_positions(q.shape[2], k.shape[2], key_padding_mask, causal,
                                         attn_mask)
        out = scaled_dot_product_attention(q, k, v, allowed, self.dropout if self.training else 0.0,
                                           need_weights=need_weights)
        out, weights = out if need_weights else (out, None)
        batch, _, length, _ = out.shape
        out = out.permute(0, 2, 1, 3).reshape(batch, length, self.d_model)  # concat heads
        out = self.out_proj(out)
        return (out, weights) if need_weights else out

    @staticmethod
    def allowed_positions(query_len, key_len, key_padding_mask, causal, attn_mask):
        """Combine the masks into one boolean array, True where attending is allowed,
        shaped to broadcast against the scores (batch, n_heads, L_q, L_k)."""
        allowed = None
        if key_padding_mask is not None:
            pad = key_padding_mask.data if isinstance(key_padding_mask, tt.Tensor) else key_padding_mask
            allowed = ~pad[:, None, None, :]                   # (B, 1, 1, L_k)
        if causal:
            tri = causal_mask(query_len, key_len)
            allowed = tri if allowed is None else allowed & tri
        if attn_mask is not None:
            blocked = attn_mask.data if isinstance(attn_mask, tt.Tensor) else attn_mask
            blocked = blocked[:, None] if blocked.ndim == 3 else blocked
            allowed = ~blocked if allowed is None else allowed & ~blocked
        if allowed is not None:
            xp = tt.backend.get_array_module(allowed)
            allowed = xp.asarray(allowed)
        return allowed

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
            self.table = tt.tensor(table)   # a buffer: moves with .to(), is not trained

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
