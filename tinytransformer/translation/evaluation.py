"""Scores of translations as papers report them: corpus BLEU and chrF (sacreBLEU), with signatures.

    scores = score_translations(translations, references, target_lang="en")
    print(scores)
    # BLEU 31.2  chrF 52.0
    #   BLEU signature: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0
    #   chrF signature: nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0

Why it is done this way:

* The scores are computed on *detokenized* text (what `Translator.translate` returns and
  what a reader sees), and sacreBLEU tokenizes both sides itself, the same way for every
  system. A BLEU computed on one's own tokens depends on that tokenizer and cannot be set
  beside another paper's figure.
* The signature names every setting that changes the number (number of references, case,
  tokenizer, smoothing, sacreBLEU version). Two scores are comparable when their signatures
  are equal; that is why they are printed with the scores.
* BLEU counts matching word n-grams (1 to 4): exact words, so it is harsh on short
  sentences and on morphology. chrF counts matching character n-grams (1 to 6) and is
  kinder to a nearly right word; the two together say more than either.

English targets use sacreBLEU's standard "13a" tokenizer; Chinese targets its "zh"
tokenizer (each Chinese character a token), as the WMT shared tasks do. chrF keeps its
defaults (chrF2: character order 6, word order 0, beta 2).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Scores", "score_translations", "bleu_score", "bleu_tokenizer", "guess_language",
           "format_samples"]

# sacreBLEU's tokenizer for BLEU, by target language.
BLEU_TOKENIZERS = {"en": "13a", "zh": "zh"}


@dataclass(frozen=True)
class Scores:
    """Corpus BLEU and chrF (0-100) of `n` translations, with the sacreBLEU signatures
    that make them comparable with scores computed elsewhere."""
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    n: int

    def format(self) -> str:
        """'BLEU 31.2  chrF 52.0', then one line for each signature."""
        return (f"BLEU {self.bleu:.1f}  chrF {self.chrf:.1f}\n"
                f"  BLEU signature: {self.bleu_signature}\n"
                f"  chrF signature: {self.chrf_signature}")

    __str__ = format


def _sacrebleu_metrics():
    """sacreBLEU's metric classes; an optional dependency, so a clear message if it is missing."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ImportError('BLEU and chrF need sacrebleu: pip install "tinytensor[examples]"') \
            from None
    return BLEU, CHRF


def bleu_tokenizer(target_lang: str) -> str:
    """The sacreBLEU tokenizer for BLEU on `target_lang` ("en": "13a", "zh": "zh")."""
    if target_lang not in BLEU_TOKENIZERS:
        raise ValueError(f"target_lang must be one of {sorted(BLEU_TOKENIZERS)}, "
                         f"got {target_lang!r}")
    return BLEU_TOKENIZERS[target_lang]


def guess_language(texts: Sequence[str]) -> str:
    """"zh" if any of the first 20 texts holds a Chinese character, else "en". For callers
    that were not told the language (`corpus_bleu`); prefer passing it."""
    chinese = any("\u4e00" <= ch <= "\u9fff" for text in list(texts)[:20] for ch in text)
    return "zh" if chinese else "en"


def _paired(hypotheses, references, function):
    """Both as lists of strings, after checking that they pair one to one; `function` is
    the name the error message gives, the one the caller called."""
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"{function}: {len(hypotheses)} hypotheses but {len(references)} "
                         "references; they must pair one to one")
    if not hypotheses:
        raise ValueError(f"{function}: no sentences to score (0 hypotheses, 0 references)")
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(f"{function}: {name}[{i}] is a {type(text).__name__}, "
                                 "not a string (score detokenized text, not token lists)")
    return hypotheses, references


def bleu_score(hypotheses: Sequence[str], references: Sequence[str], target_lang: str) -> float:
    """Corpus BLEU (0-100) alone: cheaper than `score_translations` when only BLEU is
    needed (the dev evaluations during training)."""
    hypotheses, references = _paired(hypotheses, references, "bleu_score")
    BLEU, _ = _sacrebleu_metrics()
    return BLEU(tokenize=bleu_tokenizer(target_lang)).corpus_score(hypotheses, [references]).score


def score_translations(hypotheses: Sequence[str], references: Sequence[str],
                       target_lang: str) -> Scores:
    """Corpus BLEU and chrF of detokenized translations against one reference each.

    `hypotheses[i]` is the translation of the sentence whose reference is `references[i]`;
    `target_lang` ("en" or "zh") is their language, which chooses BLEU's tokenizer.
    A ValueError if the two differ in length or are empty.
    """
    hypotheses, references = _paired(hypotheses, references, "score_translations")
    BLEU, CHRF = _sacrebleu_metrics()
    bleu = BLEU(tokenize=bleu_tokenizer(target_lang))
    chrf = CHRF()
    # The signatures are read after scoring: sacreBLEU learns the number of references then.
    bleu_value = bleu.corpus_score(hypotheses, [references]).score
    chrf_value = chrf.corpus_score(hypotheses, [references]).score
    return Scores(bleu=bleu_value, chrf=chrf_value, bleu_signature=str(bleu.get_signature()),
                  chrf_signature=str(chrf.get_signature()), n=len(hypotheses))


def format_samples(sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[str],
                   limit: int | None = 10) -> str:
    """Sample translations as plain text, one block per sentence:

          1  source       我有苹果。
             translation  I have an apple.
             reference    I have an apple.

    One block per sample rather than columns: a Chinese character is two columns wide in a
    terminal, so columns of mixed text would not line up. `limit`: the first so many (None: all).
    """
    rows = list(zip(sources, hypotheses, references))
    if limit is not None:
        rows = rows[:limit]
    width = len(str(len(rows)))
    indent = " " * (width + 4)
    blocks = []
    for number, (source, hypothesis, reference) in enumerate(rows, start=1):
        blocks.append(f"  {number:>{width}}  source       {source}\n"
                      f"{indent}translation  {hypothesis}\n"
                      f"{indent}reference    {reference}")
    return "\n".join(blocks)
