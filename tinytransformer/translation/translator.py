"""A trained translator: a Transformer with its two vocabularies, and corpus BLEU.

    translator, _ = Translator.load("runs/translate/best.npz")
    translator.translate(["我有苹果。"])          # ['I have an apple.']
"""
import numpy as np

import tinytensor as tt

from ..data import BOS, EOS, PAD, Vocab, pad_sequences
from ..decoding import beam_search, greedy_decode
from ..nn import evaluating
from ..utils.checkpoint import load_checkpoint, save_checkpoint
from ..transformer import Transformer
from .tokenizers import detokenize, tokenize

__all__ = ["Translator", "corpus_bleu"]


def corpus_bleu(hypotheses, references):
    """Corpus BLEU (0-100) with sacreBLEU's standard settings (13a tokenizer;
    'zh' tokenizer when the references are Chinese)."""
    try:
        import sacrebleu
    except ImportError:
        raise ImportError('BLEU needs sacrebleu: pip install "tinytensor[examples]"') from None
    chinese = any("\u4e00" <= ch <= "\u9fff" for ref in references[:20] for ch in ref)
    return sacrebleu.corpus_bleu(list(hypotheses), [list(references)],
                                 tokenize="zh" if chinese else "13a").score


class Translator:
    """A Transformer with its source and target vocabularies.

    `proper_nouns` are English words written with a capital letter ("Mary",
    "Beijing"); the English detokenizer restores their case, which lower-cased
    tokens lose. The caller knows its data and passes them (for the built-in
    corpus: `translation.corpus.ENGLISH_PROPER_NOUNS`); they are saved with the model.
    """

    def __init__(self, model, src_vocab, tgt_vocab, src_lang="zh", tgt_lang="en",
                 proper_nouns=()):
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.proper_nouns = tuple(sorted(set(proper_nouns)))

    def encode_sources(self, texts):
        """Padded (B, S) source ids, each sentence followed by </s> (as in training)."""
        return pad_sequences([self.src_vocab.encode(tokenize(t, self.src_lang)) + [EOS]
                              for t in texts], PAD)

    def translate_ids(self, texts, beam_size=1, max_len=None, length_penalty=0.6):
        src = self.encode_sources(texts)
        max_len = max_len or 2 * src.shape[1] + 10
        if beam_size > 1:
            return beam_search(self.model, src, BOS, EOS, beam_size, max_len, length_penalty)
        return greedy_decode(self.model, src, BOS, EOS, max_len)

    def detokenize(self, ids):
        return detokenize(self.tgt_vocab.decode(ids), self.tgt_lang, self.proper_nouns)

    def translate(self, texts, beam_size=1, max_len=None, batch_size=64):
        """Translate a list of sentences (greedy, or beam search if beam_size > 1)."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        out = []
        for start in range(0, len(texts), batch_size):
            for ids in self.translate_ids(texts[start:start + batch_size], beam_size, max_len):
                out.append(self.detokenize(ids))
        return out[0] if single else out

    @tt.no_grad()
    def cross_attention(self, text, beam_size=1):
        """(source tokens, output tokens, weights (n_heads, T, S)) of the last
        decoder layer's cross-attention while producing the translation."""
        out_ids = self.translate_ids([text], beam_size)[0] + [EOS]
        src = self.encode_sources([text])
        tgt_in = np.array([[BOS] + out_ids[:-1]], dtype=np.int64)
        with evaluating(self.model):
            memory, src_mask = self.model.encode(src)
            _, weights = self.model.decode(tgt_in, memory, src_mask, need_weights=True)
        src_tokens = tokenize(text, self.src_lang) + ["</s>"]
        out_tokens = self.tgt_vocab.decode(out_ids, strip_special=False)
        return src_tokens, out_tokens, weights.numpy()[0]

    # -- checkpoints -------------------------------------------------------------------
    def config(self):
        return {"model": self.model.config.to_dict(), "src_vocab": self.src_vocab.to_dict(),
                "tgt_vocab": self.tgt_vocab.to_dict(), "src_lang": self.src_lang,
                "tgt_lang": self.tgt_lang, "proper_nouns": list(self.proper_nouns)}

    def save(self, path, optimizer=None, extra=None):
        """One .npz with weights, vocabularies and (optionally) training state, written atomically."""
        save_checkpoint(path, self.model, optimizer, self.config(), extra)

    @classmethod
    def load(cls, path, device=None):
        """A Translator from a checkpoint (onto `device`), and the checkpoint's contents."""
        header = load_checkpoint(path)
        config = header["config"]
        try:
            model = Transformer.from_config(config["model"])
            src_vocab, tgt_vocab = Vocab.from_dict(config["src_vocab"]), Vocab.from_dict(config["tgt_vocab"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a translator checkpoint (its config lacks {error})") from None
        if device is not None:
            model.to(device)
        model.load_state_dict(header["model_state"])
        model.eval()
        translator = cls(model, src_vocab, tgt_vocab, config["src_lang"], config["tgt_lang"],
                         _proper_nouns(config))
        return translator, header


def _proper_nouns(config):
    """Checkpoints written before the proper nouns were saved all came from the
    built-in corpus, whose nouns the detokenizer then used by default."""
    if "proper_nouns" in config:
        return config["proper_nouns"]
    from .corpus import ENGLISH_PROPER_NOUNS
    return ENGLISH_PROPER_NOUNS
