"""A trained translator: a Transformer with its two vocabularies, and corpus BLEU.

    translator, _ = Translator.load("runs/translate/best.npz")
    translator.translate(["我有苹果。"])          # ['I have an apple.']
"""
import warnings

import numpy as np

import tinytensor as tt

from ..data import BOS, EOS, PAD, SPECIAL_TOKENS, Vocab, pad_sequences
from ..decoding import beam_search, greedy_decode
from ..nn import evaluating
from ..transformer import Transformer, TransformerConfig
from ..utils.checkpoint import CheckpointError, CheckpointReader, save_checkpoint
from .tokenizers import LANGUAGES, WordTokenizer, tokenizer_from_config

__all__ = ["Translator", "corpus_bleu", "LongSentenceWarning"]

# Where a sentence that does not fit the model may be cut, best first.
_BREAKS = ("。！？!?.", "；;", "，,、：:")


class LongSentenceWarning(UserWarning):
    """A sentence longer than the model's position table was translated in pieces."""


def corpus_bleu(hypotheses, references):
    """Corpus BLEU (0-100) with sacreBLEU's standard settings (13a tokenizer;
    'zh' tokenizer when the references are Chinese, a guess from the first 20).
    evaluation.score_translations is told the language, and adds chrF and the
    sacreBLEU signatures."""
    from .evaluation import bleu_score, guess_language
    references = list(references)
    return bleu_score(hypotheses, references, guess_language(references))


def split_tokens(tokens, limit, _level=0):
    """Cut a token list into pieces of at most `limit` tokens: at the ends of
    sentences where that is enough, else also of clauses, else anywhere; then
    neighbouring parts are packed together up to the limit."""
    tokens = list(tokens)
    if len(tokens) <= limit:
        return [tokens]
    if _level == len(_BREAKS):
        return [tokens[i:i + limit] for i in range(0, len(tokens), limit)]
    segments, start = [], 0
    for i, token in enumerate(tokens):
        if token in _BREAKS[_level]:
            segments.append(tokens[start:i + 1])
            start = i + 1
    if start < len(tokens):
        segments.append(tokens[start:])
    pieces = []
    for segment in segments:
        for part in split_tokens(segment, limit, _level + 1):
            if pieces and len(pieces[-1]) + len(part) <= limit:
                pieces[-1] += part
            else:
                pieces.append(part)
    return pieces


class Translator:
    """A Transformer with its source and target tokenizers and vocabularies.

    The tokenizers default to `WordTokenizer`s (Chinese characters, English
    lower-cased words); pass `SentencePieceTokenizer`s for subwords. Both are
    saved with the model (a SentencePiece model as bytes in the checkpoint).
    `proper_nouns` are English words written with a capital letter ("Mary",
    "Beijing"); the English word detokenizer restores their case, which
    lower-cased tokens lose. The caller knows its data and passes them (for the
    built-in corpus: `translation.corpus.ENGLISH_PROPER_NOUNS`).
    """

    def __init__(self, model, src_vocab, tgt_vocab, src_lang="zh", tgt_lang="en",
                 proper_nouns=(), src_tokenizer=None, tgt_tokenizer=None):
        self.model, self.src_vocab, self.tgt_vocab = model, src_vocab, tgt_vocab
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.proper_nouns = tuple(sorted(set(proper_nouns)))
        self.src_tokenizer = src_tokenizer or WordTokenizer(src_lang)
        self.tgt_tokenizer = tgt_tokenizer or WordTokenizer(tgt_lang, self.proper_nouns)
        for side, tokenizer, lang in (("source", self.src_tokenizer, src_lang),
                                      ("target", self.tgt_tokenizer, tgt_lang)):
            if tokenizer.lang != lang:
                raise ValueError(f"Translator: the {side} tokenizer is for {tokenizer.lang!r}, "
                                 f"but the {side} language is {lang!r}")

    @property
    def max_source_tokens(self):
        """The longest source the model takes, in tokens (its </s> needs a position too)."""
        return self.model.positions.max_len - 1

    def encode_sources(self, texts):
        """Padded (B, S) source ids, each sentence followed by </s> (as in training)."""
        return self._encode_tokens([self.src_tokenizer.tokenize(t) for t in texts])

    def _encode_tokens(self, token_lists):
        longest = max(len(tokens) for tokens in token_lists)
        if longest > self.max_source_tokens:
            raise ValueError(f"a sentence of {longest} tokens is longer than the model's "
                             f"{self.max_source_tokens} (translate() cuts such sentences)")
        return pad_sequences([self.src_vocab.encode(tokens) + [EOS] for tokens in token_lists], PAD)

    def translate_ids(self, texts, beam_size=1, max_len=None, length_penalty=0.6):
        return self._decode(self.encode_sources(texts), beam_size, max_len, length_penalty)

    def _decode(self, src, beam_size=1, max_len=None, length_penalty=0.6):
        max_len = max_len or 2 * src.shape[1] + 10
        if beam_size > 1:
            return beam_search(self.model, src, BOS, EOS, beam_size, max_len, length_penalty)
        return greedy_decode(self.model, src, BOS, EOS, max_len)

    def detokenize(self, ids):
        return self.tgt_tokenizer.detokenize(self.tgt_vocab.decode(ids))

    def translate(self, texts, beam_size=1, max_len=None, batch_size=64, on_long=None):
        """Translate a sentence or a list of them (greedy, or beam search if beam_size > 1).

        A sentence longer than the model takes is cut into pieces (at sentence
        or clause ends where possible) and the pieces' translations joined;
        each such sentence is reported by `on_long(index, n_tokens, n_pieces)`,
        by default as a LongSentenceWarning. An empty sentence translates to "".
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        if beam_size < 1 or batch_size < 1:
            raise ValueError(f"beam_size and batch_size must be at least 1, got {beam_size} "
                             f"and {batch_size}")
        limit = self.max_source_tokens
        pieces = []                                  # (text index, tokens) in order
        for index, text in enumerate(texts):
            tokens = self.src_tokenizer.tokenize(text)
            parts = split_tokens(tokens, limit) if tokens else []
            if len(parts) > 1:
                if on_long is None:
                    warnings.warn(f"sentence {index + 1} has {len(tokens)} tokens, more than the "
                                  f"model's {limit}: translated in {len(parts)} pieces",
                                  LongSentenceWarning, stacklevel=2)
                else:
                    on_long(index, len(tokens), len(parts))
            pieces.extend((index, part) for part in parts)
        outputs = [[] for _ in texts]
        for start in range(0, len(pieces), batch_size):
            batch = pieces[start:start + batch_size]
            ids = self._decode(self._encode_tokens([tokens for _, tokens in batch]), beam_size,
                               max_len)
            for (index, _), out in zip(batch, ids):
                outputs[index].append(self.detokenize(out))
        glue = "" if self.tgt_lang == "zh" else " "
        out = [glue.join(parts) for parts in outputs]
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
        src_tokens = self.src_tokenizer.tokenize(text) + ["</s>"]
        out_tokens = self.tgt_vocab.decode(out_ids, strip_special=False)
        return src_tokens, out_tokens, weights.numpy()[0]

    # -- checkpoints -------------------------------------------------------------------
    def config(self):
        return {"model": self.model.config.to_dict(), "src_vocab": self.src_vocab.to_dict(),
                "tgt_vocab": self.tgt_vocab.to_dict(), "src_lang": self.src_lang,
                "tgt_lang": self.tgt_lang, "proper_nouns": list(self.proper_nouns),
                "src_tokenizer": self.src_tokenizer.to_config(),
                "tgt_tokenizer": self.tgt_tokenizer.to_config()}

    def save(self, path, optimizer=None, extra=None):
        """One .npz with weights, vocabularies, tokenizers and (optionally) training state,
        written atomically."""
        blobs = {f"{side}_tokenizer": tokenizer.model_bytes()
                 for side, tokenizer in (("src", self.src_tokenizer), ("tgt", self.tgt_tokenizer))
                 if tokenizer.model_bytes() is not None}
        save_checkpoint(path, self.model, optimizer, self.config(), extra, blobs)

    @classmethod
    def load(cls, path, device=None):
        """A Translator from a checkpoint (onto `device`), and the checkpoint's contents
        ({"config", "extra", "model_state"}; the optimizer's arrays are not read).

        Everything is checked before it is used: the model config is sane (see
        TransformerConfig), the vocabularies are well formed and match the
        embedding and output sizes, the file holds as many weights as the
        config describes (from the zip directory, before the model is built),
        and every weight is present with its shape, a float dtype and finite
        values. Any failure is one CheckpointError with one line saying why.
        """
        with CheckpointReader(path) as ckpt:
            settings = _check_translator_config(ckpt)
            model_config = settings["model"]
            stored = ckpt.nbytes("model.")
            needed = model_config.num_parameters() * 2      # 2 bytes: float16, the smallest
            if stored < needed:
                raise CheckpointError(
                    f"{path}: its config describes a model of {model_config.num_parameters():,} "
                    f"parameters, but the file holds only {stored:,} bytes of weights")
            model = Transformer.from_config(model_config)
            state = ckpt.read_model_state(model)
            header = {"config": ckpt.config, "extra": ckpt.extra, "model_state": state}
        if device is not None:
            model.to(device)
        model.load_state_dict(state)
        model.eval()
        translator = cls(model, settings["src_vocab"], settings["tgt_vocab"], settings["src_lang"],
                         settings["tgt_lang"], settings["proper_nouns"],
                         settings["src_tokenizer"], settings["tgt_tokenizer"])
        return translator, header


def _check_translator_config(ckpt):
    """The translator's settings from a checkpoint's config, each checked."""
    path, config = ckpt.path, ckpt.config

    def fail(reason):
        return CheckpointError(f"{path} is not a usable translator checkpoint: {reason}")

    if not isinstance(config, dict):
        raise fail("it has no translator config")
    for key in ("model", "src_vocab", "tgt_vocab", "src_lang", "tgt_lang"):
        if key not in config:
            raise fail(f"its config has no {key!r}")
    try:
        model = TransformerConfig.from_dict(config["model"])
    except ValueError as error:
        raise fail(str(error)) from None
    settings = {"model": model}
    for side, size in (("src", model.src_vocab), ("tgt", model.tgt_vocab)):
        try:
            vocab = Vocab.from_dict(config[f"{side}_vocab"])
        except ValueError as error:
            raise fail(f"its {side}_vocab is malformed ({error})") from None
        if not all(isinstance(token, str) for token in vocab.itos):
            raise fail(f"its {side}_vocab holds tokens that are not strings")
        if tuple(vocab.itos[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise fail(f"its {side}_vocab does not start with {' '.join(SPECIAL_TOKENS)}")
        if len(vocab) != size:
            raise fail(f"its {side}_vocab has {len(vocab)} tokens, but the model's "
                       f"{side} embedding has {size} rows")
        settings[f"{side}_vocab"] = vocab
    if model.pad_id != PAD:
        raise fail(f"its model pads with id {model.pad_id}, the vocabularies with {PAD}")
    if config["src_lang"] not in LANGUAGES or config["tgt_lang"] not in LANGUAGES \
            or config["src_lang"] == config["tgt_lang"]:
        raise fail(f"its languages {config['src_lang']!r} -> {config['tgt_lang']!r} are not "
                   "zh -> en or en -> zh")
    settings["src_lang"], settings["tgt_lang"] = config["src_lang"], config["tgt_lang"]
    if "proper_nouns" in config:
        nouns = config["proper_nouns"]
        if not isinstance(nouns, list) or not all(isinstance(n, str) for n in nouns):
            raise fail("its proper_nouns are not a list of words")
        settings["proper_nouns"] = nouns
    else:
        # Checkpoints written before the proper nouns were saved all came from the
        # built-in corpus, whose nouns the detokenizer then used by default.
        from .corpus import ENGLISH_PROPER_NOUNS
        settings["proper_nouns"] = ENGLISH_PROPER_NOUNS
    for side in ("src", "tgt"):
        # Checkpoints from before subwords have no tokenizer entry: they used words.
        described = config.get(f"{side}_tokenizer", {"kind": "words",
                                                     "lang": settings[f"{side}_lang"]})
        try:
            blob = f"{side}_tokenizer" if described.get("kind") == "sentencepiece" else None
            tokenizer = tokenizer_from_config(described, blob and ckpt.read_blob(blob),
                                              settings["proper_nouns"])
        except (ValueError, AttributeError, ImportError) as error:   # ImportError: no sentencepiece
            raise fail(f"its {side}_tokenizer is unusable ({error})") from None
        if tokenizer.lang != settings[f"{side}_lang"]:
            raise fail(f"its {side}_tokenizer is for {tokenizer.lang!r}, its {side}_lang "
                       f"{settings[f'{side}_lang']!r}")
        settings[f"{side}_tokenizer"] = tokenizer
    return settings
