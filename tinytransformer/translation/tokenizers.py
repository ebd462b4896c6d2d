"""Tokenizers: Chinese by character, English as lower-cased words, and English back to text.

They are generic: nothing here depends on a data set.  What a corpus knows that the tokenizers
cannot (how its names are capitalised) comes in as an argument.

* :func:`tokenize_zh` splits Chinese into characters (a good unit for a small corpus: no word
  segmenter needed, and a few hundred characters cover it).
* :func:`tokenize_en` / :func:`detokenize_en` turn English into lower-cased word tokens and back.
* :func:`tokenize` / :func:`detokenize` choose by language code ("zh" or "en").
* :func:`find_proper_nouns` finds the names an English corpus capitalises, for the detokenizer.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

__all__ = ["LANGUAGES", "tokenize_zh", "tokenize_en", "detokenize_en", "tokenize", "detokenize",
           "find_proper_nouns", "WordTokenizer", "SentencePieceTokenizer", "tokenizer_from_config"]

LANGUAGES = ("zh", "en")


# A run of ASCII letters/digits (a Latin name, a number) is one token; any other
# non-space character (a Chinese character, a punctuation mark) is a token by itself.
_ZH_TOKEN = re.compile(r"[A-Za-z0-9]+|\S")

# A word is a run of letters/digits, possibly with inner apostrophes that keep contractions
# and possessives whole ("don't", "mary's"); any other non-space character stands alone.
_EN_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|\S")

_NO_SPACE_BEFORE = set(".,!?;:%)]}")
_NO_SPACE_AFTER = set("([{$")
_JOINERS = {"-", "/"}          # written without spaces on either side: "well-known"
_SENTENCE_END = set(".!?")

def tokenize_zh(text: str) -> list[str]:
    """One token per Chinese character or punctuation mark; runs of ASCII letters and digits
    stay whole; whitespace is dropped.  ``"我有3个iPad。"`` -> ``我 有 3 个 iPad 。``"""
    return _ZH_TOKEN.findall(text)


def tokenize_en(text: str) -> list[str]:
    """Lower-cased words with punctuation split off; contractions and possessives stay one
    token.  ``"Don't go, Mary's cat!"`` -> ``don't go , mary's cat !``"""
    return _EN_TOKEN.findall(text.lower().replace("\u2019", "'"))


def _truecase(token: str, truecase: dict[str, str]) -> str:
    stem, apostrophe, rest = token.partition("'")
    if stem == "i":                                  # I, I'm, I'd
        return "I" + apostrophe + rest
    if stem in truecase:                             # Mary, Mary's, Beijing
        return truecase[stem] + apostrophe + rest
    return token


def detokenize_en(tokens: Iterable[str], proper_nouns: Iterable[str] = ()) -> str:
    """Rebuild English text from :func:`tokenize_en` tokens: no space before punctuation,
    capital letters at sentence starts, on "I" and on the given proper nouns.

    Lower-casing loses the case of names; the caller, who knows its data, passes them in
    ``proper_nouns`` as they are written ("Mary", "Beijing").  With the built-in corpus's
    :data:`~tinytransformer.translation.corpus.ENGLISH_PROPER_NOUNS`,
    ``detokenize_en(tokenize_en(s), ENGLISH_PROPER_NOUNS) == s`` for every sentence of it.
    Names not given come back lower-case.
    """
    truecase = {word.lower(): word for word in proper_nouns}
    pieces: list[str] = []
    previous = None
    capitalise_next = True
    for token in tokens:
        word = _truecase(token, truecase)
        if capitalise_next and word[:1].isalpha():
            word = word[0].upper() + word[1:]
            capitalise_next = False
        glue = (previous is None or token in _NO_SPACE_BEFORE or previous in _NO_SPACE_AFTER
                or token in _JOINERS or previous in _JOINERS)
        pieces.append(word if glue else " " + word)
        if token in _SENTENCE_END:
            capitalise_next = True
        previous = token
    return "".join(pieces)


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: expected 'zh' or 'en'")


def tokenize(text: str, lang: str) -> list[str]:
    """Chinese by character, English as lower-cased words and punctuation."""
    _check_language(lang)
    return tokenize_zh(text) if lang == "zh" else tokenize_en(text)


def detokenize(tokens: Iterable[str], lang: str, proper_nouns: Iterable[str] = ()) -> str:
    """Text from tokens: Chinese joined without spaces, English by :func:`detokenize_en`."""
    _check_language(lang)
    return "".join(tokens) if lang == "zh" else detokenize_en(tokens, proper_nouns)


def find_proper_nouns(sentences: Iterable[str], min_count: int = 2,
                      share: float = 0.9) -> list[str]:
    """English words that the sentences write with a capital letter where no sentence starts
    (at least ``min_count`` times, and in at least ``share`` of such places): the names a
    corpus uses, as :func:`detokenize_en` wants them ("Tom", "Boston").  Words are compared
    before any apostrophe, so "Tom's" counts for "Tom"."""
    seen: dict[str, Counter] = {}
    for sentence in sentences:
        starts = True
        for token in _EN_TOKEN.findall(sentence.replace("\u2019", "'")):
            stem = token.partition("'")[0]
            if not starts and stem[:1].isalpha() and stem.lower() != "i":
                seen.setdefault(stem.lower(), Counter())[stem] += 1
            starts = token in _SENTENCE_END
    nouns = []
    for forms in seen.values():
        written, count = forms.most_common(1)[0]
        capitalised = sum(n for form, n in forms.items() if form[:1].isupper())
        total = sum(forms.values())
        if written[:1].isupper() and capitalised >= min_count and capitalised >= share * total:
            nouns.append(written)
    return sorted(nouns)


# -- tokenizer objects: what a Translator holds for each side ---------------------------
class WordTokenizer:
    """The tokenizers above as an object: Chinese by character, English as lower-cased words
    (detokenized with the given proper nouns).  Exact on the built-in corpus, whose words are
    few; on real text every rare word becomes <unk> (see :class:`SentencePieceTokenizer`)."""

    kind = "words"

    def __init__(self, lang: str, proper_nouns: Iterable[str] = ()):
        _check_language(lang)
        self.lang = lang
        self.proper_nouns = tuple(sorted(set(proper_nouns)))

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text, self.lang)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return detokenize(tokens, self.lang, self.proper_nouns)

    def to_config(self) -> dict:
        return {"kind": self.kind, "lang": self.lang}

    def model_bytes(self) -> bytes | None:
        return None

    def __repr__(self):
        return f"WordTokenizer({self.lang!r})"


class SentencePieceTokenizer:
    """Subword units (Kudo and Richardson, 2018): a SentencePiece model, trained on the training
    side only, cuts text into pieces from a fixed inventory ("▁un" "believ" "able"), so a word
    never seen whole is still spelled from pieces instead of becoming <unk>.  Case and spacing
    are kept (``▁`` marks a space), so detokenizing gives normal text.

    The model is a few hundred kilobytes of bytes (a protobuf), saved inside the checkpoint;
    :meth:`model_bytes` gives them and ``SentencePieceTokenizer(model_bytes, lang)`` loads them.
    """

    kind = "sentencepiece"

    def __init__(self, model: bytes, lang: str):
        _check_language(lang)
        spm = _import_sentencepiece()
        self.lang = lang
        self._bytes = bytes(model)
        self._processor = spm.SentencePieceProcessor()
        try:
            self._processor.LoadFromSerializedProto(self._bytes)
        except (RuntimeError, OSError) as error:
            raise ValueError(f"SentencePieceTokenizer: not a SentencePiece model ({error})") from None

    @classmethod
    def train(cls, sentences: Iterable[str], lang: str, vocab_size: int = 4000,
              model_type: str = "unigram") -> "SentencePieceTokenizer":
        """Train a model of about ``vocab_size`` pieces on ``sentences`` (the training side:
        never the dev or test text).  Chinese keeps 99.95% of its characters as pieces of their
        own (the rarest become <unk>); other languages keep all."""
        import io
        spm = _import_sentencepiece()
        sentences = [s for s in sentences if s.strip()]
        if not sentences:
            raise ValueError("SentencePieceTokenizer.train: no sentences to train on")
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
                model_type=model_type, character_coverage=0.9995 if lang == "zh" else 1.0,
                # Our Vocab adds <pad> <unk> <s> </s>; SentencePiece's own ids are not used.
                pad_id=-1, bos_id=-1, eos_id=-1, unk_id=0,
                # No NFKC: it would turn Chinese full-width ？！， into ASCII, and
                # detokenized text must be the text.
                normalization_rule_name="identity",
                hard_vocab_limit=False, num_threads=1, minloglevel=2)
        except RuntimeError as error:
            raise ValueError(f"SentencePieceTokenizer.train: {error}") from None
        return cls(model.getvalue(), lang)

    def tokenize(self, text: str) -> list[str]:
        return self._processor.EncodeAsPieces(text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        return self._processor.DecodePieces(list(tokens))

    def pieces(self) -> list[str]:
        """Every piece of the model (its <unk> aside), so that a vocabulary can hold them all:
        a piece the training text never needed (a single rare letter) still spells new words."""
        p = self._processor
        return [p.IdToPiece(i) for i in range(p.GetPieceSize())
                if not (p.IsUnknown(i) or p.IsControl(i))]

    def to_config(self) -> dict:
        return {"kind": self.kind, "lang": self.lang, "pieces": self._processor.GetPieceSize()}

    def model_bytes(self) -> bytes:
        return self._bytes

    def __repr__(self):
        return f"SentencePieceTokenizer({self.lang!r}, {self._processor.GetPieceSize()} pieces)"


TOKENIZER_KINDS = {WordTokenizer.kind: WordTokenizer, SentencePieceTokenizer.kind: SentencePieceTokenizer}


def tokenizer_from_config(config: dict, model: bytes | None = None, proper_nouns=()):
    """The tokenizer a checkpoint describes (``config`` from :meth:`to_config`, ``model`` its
    saved bytes); a ValueError says what is wrong."""
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in TOKENIZER_KINDS:
        raise ValueError(f"unknown tokenizer {kind!r} (expected one of {sorted(TOKENIZER_KINDS)})")
    lang = config.get("lang")
    if lang not in LANGUAGES:
        raise ValueError(f"tokenizer language {lang!r} is not 'zh' or 'en'")
    if kind == WordTokenizer.kind:
        return WordTokenizer(lang, proper_nouns)
    if model is None:
        raise ValueError("a sentencepiece tokenizer without its model bytes")
    return SentencePieceTokenizer(model, lang)


def _import_sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise ImportError('subword tokenizers need sentencepiece: pip install '
                          '"tinytensor[examples]"') from None
    return sentencepiece
