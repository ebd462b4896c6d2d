"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al., 2017).

    source ids -> embedding * sqrt(d_model) + positions -> N encoder layers -> memory
    target ids -> embedding * sqrt(d_model) + positions -> N decoder layers -> logits
                                   (each decoder layer also attends to the memory)

Shapes in comments: B batch, S source length, T target length, d = d_model.
Masks follow torch.nn.Transformer: a padding mask is True at padding tokens.
The layer structure, LayerNorm placement (including the final encoder and
decoder norms) and defaults match torch.nn.Transformer, so weights ported from
it give the same outputs (q_proj/k_proj/v_proj are its in_proj_weight split
in three; linear1/linear2/norm1.. keep its names).
"""
import dataclasses
import math
import numbers

import tinytensor as tt
import tinytensor.nn.functional as F

from .nn import (Dropout, Embedding, FeedForward, LayerNorm, Linear, Module, ModuleList,
                 MultiHeadAttention, Parameter, PositionalEncoding, normal_, uniform_,
                 xavier_uniform_, zero_row_, zeros_)

__all__ = ["EncoderLayer", "DecoderLayer", "Encoder", "Decoder", "Transformer", "TransformerConfig"]


@dataclasses.dataclass
class TransformerConfig:
    """Everything needed to rebuild a Transformer (saved in its checkpoints).
    The defaults are the paper's base model; see `Transformer` for each field.

    A config is checked when it is made: sizes are integers within `LIMITS`
    (so a damaged or hostile checkpoint cannot ask for a billion layers),
    d_model divides into n_heads, dropout is in [0, 1), pad_id is an id of both
    vocabularies. A bad value is a ValueError naming the field."""
    src_vocab: int
    tgt_vocab: int
    d_model: int = 512
    n_heads: int = 8
    n_layers: int = 6
    d_ff: int = 2048
    dropout: float = 0.1
    max_len: int = 512
    share_embeddings: bool = False
    tie_output: bool = True
    norm_first: bool = False
    learned_positions: bool = False
    pad_id: int = 0

    # The largest sizes a config may ask for: far beyond anything this library
    # trains, small enough that a typo or a damaged file is caught before it
    # allocates.
    LIMITS = {"src_vocab": 10_000_000, "tgt_vocab": 10_000_000, "d_model": 8192,
              "n_heads": 256, "n_layers": 64, "d_ff": 65536, "max_len": 65536}

    def __post_init__(self):
        for name, limit in self.LIMITS.items():
            value = getattr(self, name)
            if not _is_integer(value):
                raise ValueError(f"TransformerConfig: {name} must be an integer, got {value!r}")
            if not 1 <= value <= limit:
                raise ValueError(f"TransformerConfig: {name}={value} is out of range "
                                 f"(1 to {limit:,})")
            setattr(self, name, int(value))
        if self.d_model % self.n_heads:
            raise ValueError(f"TransformerConfig: d_model={self.d_model} is not divisible by "
                             f"n_heads={self.n_heads}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, numbers.Real) \
                or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"TransformerConfig: dropout must be a number in [0, 1), "
                             f"got {self.dropout!r}")
        self.dropout = float(self.dropout)
        for name in ("share_embeddings", "tie_output", "norm_first", "learned_positions"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TransformerConfig: {name} must be true or false, "
                                 f"got {getattr(self, name)!r}")
        if not _is_integer(self.pad_id) or not 0 <= self.pad_id < min(self.src_vocab,
                                                                      self.tgt_vocab):
            raise ValueError(f"TransformerConfig: pad_id={self.pad_id!r} is not an id of both "
                             f"vocabularies ({self.src_vocab} and {self.tgt_vocab} tokens)")
        self.pad_id = int(self.pad_id)
        if self.share_embeddings and self.src_vocab != self.tgt_vocab:
            raise ValueError(f"TransformerConfig: share_embeddings needs one vocabulary, but "
                             f"src_vocab={self.src_vocab} and tgt_vocab={self.tgt_vocab}")

    @classmethod
    def from_dict(cls, values):
        """From a saved dict; an unknown or missing field is a clear error."""
        if not isinstance(values, dict):
            raise ValueError(f"TransformerConfig: expected a dict of fields, got "
                             f"{type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"TransformerConfig: unknown fields {unknown}")
        try:
            return cls(**values)
        except TypeError as error:
            raise ValueError(f"TransformerConfig: {error}") from None

    def to_dict(self):
        return dataclasses.asdict(self)

    def num_parameters(self):
        """How many numbers the model's parameters hold, computed from the
        config alone (before anything is allocated)."""
        d, d_ff, layers = self.d_model, self.d_ff, self.n_layers
        attention = 4 * (d * d + d)                      # q, k, v and out projections
        feed_forward = d * d_ff + d_ff + d_ff * d + d
        norm = 2 * d
        encoder_layer = attention + feed_forward + 2 * norm
        decoder_layer = 2 * attention + feed_forward + 3 * norm
        embeddings = self.src_vocab * d + (0 if self.share_embeddings else self.tgt_vocab * d)
        positions = self.max_len * d if self.learned_positions else 0
        output = self.tgt_vocab if self.tie_output else d * self.tgt_vocab + self.tgt_vocab
        return (embeddings + positions + layers * (encoder_layer + decoder_layer) + 2 * norm
                + output)


def _is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def add_and_norm(norm, dropout, x, sublayer):
    """Post-norm's "Add & Norm" around a sublayer's output: norm(x + dropout(sublayer)),
    as one fused operation (F.add_layer_norm) with the modules' settings."""
    return F.add_layer_norm(x, sublayer, norm.normalized_shape, norm.weight, norm.bias, norm.eps,
                            dropout.p if dropout.training else 0.0)


class EncoderLayer(Module):
    """Self-attention then feed-forward, each wrapped as "Add & Norm":
    post-norm (the paper): x = LayerNorm(x + Dropout(Sublayer(x)));
    pre-norm (norm_first=True): x = x + Dropout(Sublayer(LayerNorm(x)))."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)

    def forward(self, x, src_padding_mask=None):
        """x: (B, S, d); src_padding_mask: (B, S), True at padding."""
        def self_attention(h):
            return self.self_attn(h, h, h, key_padding_mask=src_padding_mask,
                                  need_weights=False)[0]

        if self.norm_first:
            x = x + self.dropout1(self_attention(self.norm1(x)))
            return x + self.dropout2(self.feed_forward(self.norm2(x)))
        x = add_and_norm(self.norm1, self.dropout1, x, self_attention(x))
        return add_and_norm(self.norm2, self.dropout2, x, self.feed_forward(x))


class DecoderLayer(Module):
    """Masked self-attention, cross-attention on the encoder output (memory),
    then feed-forward; each with dropout, residual and LayerNorm."""

    def __init__(self, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norm1, self.norm2, self.norm3 = LayerNorm(d_model), LayerNorm(d_model), LayerNorm(d_model)
        self.dropout1, self.dropout2, self.dropout3 = Dropout(dropout), Dropout(dropout), Dropout(dropout)

    def forward(self, x, memory, tgt_padding_mask=None, memory_padding_mask=None, cache=None,
                need_weights=False):
        """x: (B, T, d), memory: (B, S, d). With a cache (a dict per layer), x
        holds only the new positions and earlier keys/values come from the cache.
        With need_weights, returns (x, cross-attention weights (B, h, T, S))."""
        weights = []

        def self_attention(h):
            return self.self_attn(
                h, h, h, key_padding_mask=tgt_padding_mask, need_weights=False, is_causal=True,
                cache=None if cache is None else cache.setdefault("self", {}))[0]

        def cross_attention(h):
            out, w = self.cross_attn(h, memory, memory, key_padding_mask=memory_padding_mask,
                                     need_weights=need_weights, average_attn_weights=False,
                                     static_kv=True,
                                     cache=None if cache is None else cache.setdefault("cross", {}))
            if need_weights:
                weights.append(w)
            return out

        if self.norm_first:
            x = x + self.dropout1(self_attention(self.norm1(x)))
            x = x + self.dropout2(cross_attention(self.norm2(x)))
            x = x + self.dropout3(self.feed_forward(self.norm3(x)))
        else:
            x = add_and_norm(self.norm1, self.dropout1, x, self_attention(x))
            x = add_and_norm(self.norm2, self.dropout2, x, cross_attention(x))
            x = add_and_norm(self.norm3, self.dropout3, x, self.feed_forward(x))
        return (x, weights[0]) if need_weights else x


class Encoder(Module):
    """A stack of n_layers EncoderLayers and a final LayerNorm."""

    def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        self.layers = ModuleList(EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first)
                                 for _ in range(n_layers))
        self.norm = LayerNorm(d_model)

    def forward(self, x, src_padding_mask=None):
        for layer in self.layers:
            x = layer(x, src_padding_mask)
        return self.norm(x)


class Decoder(Module):
    """A stack of n_layers DecoderLayers and a final LayerNorm."""

    def __init__(self, n_layers, d_model, n_heads, d_ff, dropout=0.1, norm_first=False):
        self.layers = ModuleList(DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first)
                                 for _ in range(n_layers))
        self.norm = LayerNorm(d_model)

    def forward(self, x, memory, tgt_padding_mask=None, memory_padding_mask=None, cache=None,
                need_weights=False):
        """With need_weights, also returns the last layer's cross-attention weights."""
        weights = None
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else cache.setdefault(i, {})
            last = need_weights and i == len(self.layers) - 1
            x = layer(x, memory, tgt_padding_mask, memory_padding_mask, layer_cache, last)
            if last:
                x, weights = x
        x = self.norm(x)
        return (x, weights) if need_weights else x


class Transformer(Module):
    """The full encoder-decoder model.

    Arguments (the paper's base model: d_model=512, n_heads=8, n_layers=6,
    d_ff=2048, dropout=0.1; scale them down for small tasks):
      src_vocab, tgt_vocab: vocabulary sizes.
      d_model: width of every token vector; n_heads: attention heads (d_k =
      d_model / n_heads); n_layers: encoder layers and decoder layers;
      d_ff: inner width of the feed-forward network; max_len: longest sequence.
      share_embeddings: one embedding table for source and target (needs one
      shared vocabulary); tie_output: the output projection reuses the target
      embedding matrix (section 3.4), plus its own bias.
      norm_first: pre-norm layers; learned_positions: a trained position table.
      pad_id: the padding token id (its embedding row is zero).

    Parameters: src_embed.weight (src_vocab, d), tgt_embed.weight (tgt_vocab, d),
    encoder.layers.i.* and decoder.layers.i.* (see the layers), encoder.norm,
    decoder.norm, and output.weight (tgt_vocab, d) + output.bias, or only
    output_bias when the output is tied to tgt_embed.
    """

    def __init__(self, src_vocab, tgt_vocab, d_model=512, n_heads=8, n_layers=6, d_ff=2048,
                 dropout=0.1, max_len=512, share_embeddings=False, tie_output=True,
                 norm_first=False, learned_positions=False, pad_id=0):
        if share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(f"Transformer: share_embeddings needs one vocabulary, but "
                             f"src_vocab={src_vocab} and tgt_vocab={tgt_vocab}")
        self.config = TransformerConfig(
            src_vocab=src_vocab, tgt_vocab=tgt_vocab, d_model=d_model, n_heads=n_heads,
            n_layers=n_layers, d_ff=d_ff, dropout=dropout, max_len=max_len,
            share_embeddings=share_embeddings, tie_output=tie_output, norm_first=norm_first,
            learned_positions=learned_positions, pad_id=pad_id)
        self.d_model, self.pad_id, self.tie_output = d_model, pad_id, tie_output
        self.src_embed = Embedding(src_vocab, d_model, padding_idx=pad_id)
        self.tgt_embed = self.src_embed if share_embeddings else Embedding(
            tgt_vocab, d_model, padding_idx=pad_id)
        self.positions = PositionalEncoding(d_model, max_len, learned_positions)
        self.embed_dropout = Dropout(dropout)
        self.encoder = Encoder(n_layers, d_model, n_heads, d_ff, dropout, norm_first)
        self.decoder = Decoder(n_layers, d_model, n_heads, d_ff, dropout, norm_first)
        if tie_output:
            self.output_bias = Parameter(tt.zeros(tgt_vocab))
        else:
            self.output = Linear(d_model, tgt_vocab)
        self.reset_parameters()

    def reset_parameters(self):
        """torch.nn.Transformer's initialisation inside the layers, and embeddings that make
        token vectors as large as the position codes (issue 12):

        * every matrix inside the encoder and decoder layers: Glorot (Xavier) uniform; torch
          keeps q, k and v as one (3d, d) matrix and draws it as one, so ours, split in three,
          are drawn with that matrix's bound sqrt(6 / (4 d));
        * attention biases zero; the feed-forward biases as nn.Linear (U(+-1/sqrt(fan_in)));
        * embeddings N(0, 1/d_model), as fairseq and tensor2tensor: times sqrt(d_model)
          (section 3.4) a token vector has entries of unit scale, like the sinusoids. Xavier-
          sized embeddings (std sqrt(2 / (vocab + d)), 0.016 for 6,600 words) left tokens a
          quarter of the positions' size: on Tatoeba the encoder then passed on mostly
          positions and the decoder learnt to ignore the source;
        * an untied output layer is nn.Linear's default; a tied one is the embedding, whose
          scale also makes the first logits of unit scale.
        """
        d = self.d_model
        for layer in list(self.encoder.layers) + list(self.decoder.layers):
            attentions = [layer.self_attn] + ([layer.cross_attn] if hasattr(layer, "cross_attn") else [])
            for attention in attentions:
                bound = math.sqrt(6.0 / (4 * d))          # Xavier for the stacked (3d, d) matrix
                for projection in (attention.q_proj, attention.k_proj, attention.v_proj):
                    uniform_(projection.weight, -bound, bound)
                xavier_uniform_(attention.out_proj.weight)
                for projection in (attention.q_proj, attention.k_proj, attention.v_proj,
                                   attention.out_proj):
                    if projection.bias is not None:
                        zeros_(projection.bias)
            xavier_uniform_(layer.feed_forward.linear1.weight)
            xavier_uniform_(layer.feed_forward.linear2.weight)
        for embed in {id(self.src_embed): self.src_embed, id(self.tgt_embed): self.tgt_embed}.values():
            normal_(embed.weight, std=d ** -0.5)
            zero_row_(embed.weight, self.pad_id)

    @classmethod
    def from_config(cls, config):
        """A new model from a TransformerConfig (or its dict form)."""
        if not isinstance(config, TransformerConfig):
            config = TransformerConfig.from_dict(config)
        return cls(**config.to_dict())

    def embed(self, embedding, ids, offset=0):
        """Token vectors scaled by sqrt(d_model) (section 3.4) plus positions."""
        x = embedding(ids) * math.sqrt(self.d_model)
        return self.embed_dropout(self.positions(x, offset))

    def padding_mask(self, ids):
        data = ids.data if isinstance(ids, tt.Tensor) else ids
        return data == self.pad_id

    def encode(self, src_ids):
        """src_ids (B, S) ints -> memory (B, S, d) and its padding mask (B, S)."""
        src_mask = self.padding_mask(src_ids)
        return self.encoder(self.embed(self.src_embed, src_ids), src_mask), src_mask

    def decode(self, tgt_ids, memory, memory_padding_mask=None, cache=None, offset=0,
               need_weights=False):
        """tgt_ids (B, T) -> logits (B, T, tgt_vocab). With a cache, tgt_ids are
        only the new tokens, at positions offset, offset+1, ...; with
        need_weights, also returns the last layer's cross-attention weights."""
        x = self.embed(self.tgt_embed, tgt_ids, offset)
        # Inside a cache, earlier positions are already real tokens: padding is only masked
        # when decoding a whole teacher-forced target at once.
        tgt_mask = self.padding_mask(tgt_ids) if cache is None else None
        h = self.decoder(x, memory, tgt_mask, memory_padding_mask, cache, need_weights)
        h, weights = h if need_weights else (h, None)
        logits = self.project(h)
        return (logits, weights) if need_weights else logits

    def project(self, h):
        """Decoder output (B, T, d) -> logits over the target vocabulary (B, T, V)."""
        if not self.tie_output:
            return self.output(h)
        return tt.nn.functional.linear(h, self.tgt_embed.weight, self.output_bias)

    def forward(self, src_ids, tgt_in_ids):
        """Teacher forcing: logits (B, T, V) for every target position at once,
        each predicting the next token from the true previous ones."""
        memory, src_mask = self.encode(src_ids)
        return self.decode(tgt_in_ids, memory, src_mask)
