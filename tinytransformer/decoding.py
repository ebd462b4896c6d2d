"""Turning a trained Transformer into translations: greedy and beam search.

Both decode a batch of sentences together. With `use_cache=True` (the
default) each step feeds only the newest token: every decoder layer keeps the
keys and values of the earlier positions (its self-attention cache) and of the
encoder output (its cross-attention cache), so a step costs O(length) instead
of re-running the whole prefix, O(length^2).

Neither ever emits `<pad>` or `<s>` (the model's pad_id and the bos_id): their
logits are set to -inf before the softmax, so the probabilities are those of
the tokens a translation can contain. Both paths see the prefix the same way:
a decoded prefix has no padding, so no target padding mask is applied, with or
without the cache - cached and uncached decoding give the same tokens even when
the start token is the pad id (as in T5).

Choosing the next tokens (argmax, top-k over beams) is bookkeeping on the host
with NumPy; all model math is tinytensor.
"""
import numpy as np

import tinytensor as tt

from .nn import evaluating

__all__ = ["greedy_decode", "beam_search"]


def _steps(model, max_len):
    """No more steps than the position table has rows (the last input sits at max_len - 1)."""
    return min(max_len, model.positions.max_len)


def _src_array(src_ids):
    data = src_ids.numpy() if isinstance(src_ids, tt.Tensor) else np.asarray(src_ids)
    if data.ndim != 2:
        raise ValueError(f"decoding expects source ids of shape (batch, length), got {data.shape}")
    return data


def _banned(model, bos_id, eos_id, device):
    """(V,) additive mask: -inf at <pad> and <s>, which never belong in an output."""
    vocab = model.config.tgt_vocab
    mask = np.zeros(vocab, dtype=np.float32)
    for token in {model.pad_id, bos_id} - {eos_id}:
        if 0 <= token < vocab:
            mask[token] = -np.inf
    return tt.tensor(mask, device=device)


def _step_logits(model, prefix, memory, memory_mask, cache, banned):
    """Log-probabilities (B, V) of the token after `prefix` (B, t)."""
    if cache is None:
        # The whole prefix again, with no target padding mask (see the module docstring).
        x = model.embed(model.tgt_embed, prefix)
        logits = model.project(model.decoder(x, memory, None, memory_mask))
    else:
        logits = model.decode(prefix[:, -1:], memory, memory_mask, cache, offset=prefix.shape[1] - 1)
    return tt.log_softmax(logits[:, -1] + banned, axis=-1)


@tt.no_grad()
def greedy_decode(model, src_ids, bos_id, eos_id, max_len=50, use_cache=True,
                  return_scores=False):
    """Pick the most likely next token at every step until `</s>` or max_len.

    src_ids: (B, S) ints. Returns a list of B token-id lists (without <s> and
    </s>); with return_scores, also the (B, steps, V) log-probabilities of every step."""
    with evaluating(model):
        return _greedy(model, src_ids, bos_id, eos_id, max_len, use_cache, return_scores)


def _greedy(model, src_ids, bos_id, eos_id, max_len, use_cache, return_scores):
    src = _src_array(src_ids)
    memory, memory_mask = model.encode(src)
    banned = _banned(model, bos_id, eos_id, memory.device)
    batch = src.shape[0]
    prefix = np.full((batch, 1), bos_id, dtype=np.int64)
    finished = np.zeros(batch, dtype=bool)
    cache = {} if use_cache else None
    scores = []
    for _ in range(_steps(model, max_len)):
        log_probs = _step_logits(model, prefix, memory, memory_mask, cache, banned)
        scores.append(log_probs.numpy())
        next_ids = np.where(finished, eos_id, scores[-1].argmax(axis=-1))
        prefix = np.concatenate([prefix, next_ids[:, None]], axis=1)
        finished |= next_ids == eos_id
        if finished.all():
            break
    outputs = [_strip(row[1:], eos_id) for row in prefix]
    return (outputs, np.stack(scores, axis=1)) if return_scores else outputs


def _strip(ids, eos_id):
    ids = list(int(i) for i in ids)
    return ids[:ids.index(eos_id)] if eos_id in ids else ids


@tt.no_grad()
def beam_search(model, src_ids, bos_id, eos_id, beam_size=4, max_len=50, length_penalty=0.6,
                use_cache=True):
    """Keep the `beam_size` best partial translations of each sentence.

    A finished hypothesis of length L with total log-probability s is scored
    s / lp(L), lp(L) = ((5 + L) / 6) ** length_penalty (Wu et al., 2016), so
    longer translations are not penalised just for having more terms.
    Returns a list of B token-id lists (the best hypothesis of each sentence).
    """
    with evaluating(model):
        return _beam(model, src_ids, bos_id, eos_id, beam_size, max_len, length_penalty, use_cache)


def _beam(model, src_ids, bos_id, eos_id, beam_size, max_len, length_penalty, use_cache):
    src = _src_array(src_ids)
    batch = src.shape[0]
    # Every sentence becomes beam_size rows: row b * beam_size + k is beam k of sentence b.
    src = np.repeat(src, beam_size, axis=0)
    memory, memory_mask = model.encode(src)
    banned = _banned(model, bos_id, eos_id, memory.device)
    prefix = np.full((batch * beam_size, 1), bos_id, dtype=np.int64)
    # Only beam 0 is alive at first, so the first step does not pick the same token k times.
    beam_scores = np.full((batch, beam_size), -np.inf)
    beam_scores[:, 0] = 0.0
    finished = [[] for _ in range(batch)]          # (normalized score, tokens) per sentence
    done = np.zeros(batch, dtype=bool)
    cache = {} if use_cache else None

    max_len = _steps(model, max_len)
    for step in range(1, max_len + 1):
        log_probs = _step_logits(model, prefix, memory, memory_mask, cache, banned).numpy()
        vocab = log_probs.shape[-1]
        candidates = beam_scores[:, :, None] + log_probs.reshape(batch, beam_size, vocab)
        flat = candidates.reshape(batch, -1)
        # 2 * beam_size candidates, so that beam_size survive even if some end here.
        top = np.argsort(-flat, axis=1)[:, :2 * beam_size]
        new_rows = np.zeros((batch, beam_size), dtype=np.int64)
        new_tokens = np.full((batch, beam_size), eos_id, dtype=np.int64)
        new_scores = np.full((batch, beam_size), -np.inf)
        for b in range(batch):
            kept = 0
            for index in top[b]:
                score = flat[b, index]
                if done[b] or not np.isfinite(score):
                    break
                beam, token = divmod(int(index), vocab)
                row = b * beam_size + beam
                if token == eos_id:
                    tokens = [int(t) for t in prefix[row, 1:]]
                    finished[b].append((score / ((5 + step) / 6) ** length_penalty, tokens))
                    continue
                new_rows[b, kept], new_tokens[b, kept], new_scores[b, kept] = row, token, score
                kept += 1
                if kept == beam_size:
                    break
            if len(finished[b]) >= beam_size:
                best_open = new_scores[b].max() / ((5 + max_len) / 6) ** length_penalty
                # Scores only fall as hypotheses grow, so an open one can't win any more.
                if max(s for s, _ in finished[b]) >= best_open:
                    done[b] = True
            if done[b]:
                new_rows[b] = b * beam_size
        if done.all():
            break
        rows = new_rows.reshape(-1)
        prefix = np.concatenate([prefix[rows], new_tokens.reshape(-1, 1)], axis=1)
        beam_scores = new_scores
        if cache is not None:
            _reorder_cache(cache, rows)

    results = []
    for b in range(batch):
        if not finished[b]:  # nothing ended with </s>: take the best open hypothesis
            best = int(np.argmax(beam_scores[b]))
            finished[b].append((beam_scores[b, best], [int(t) for t in prefix[b * beam_size + best, 1:]]))
        results.append(max(finished[b], key=lambda item: item[0])[1])
    return results


def _reorder_cache(cache, rows):
    """Keep the self-attention keys/values of the surviving beams (rows of the batch)."""
    for layer_cache in cache.values():
        self_cache = layer_cache.get("self")
        if self_cache:
            self_cache["k"] = self_cache["k"][rows]
            self_cache["v"] = self_cache["v"][rows]
