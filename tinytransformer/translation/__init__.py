"""Chinese <-> English translation with the Transformer: the application on top of the model.

    tokenizers.py  tokenize_zh / tokenize_en / detokenize_en (generic: no data set inside)
    parallel.py    read_tsv, train_dev_split, make_batches (parallel text -> padded id arrays)
    corpus/        the built-in corpus: lexicon (data), grammar (rendering), sampler (splits)
    translator.py  Translator (model + vocabularies: translate, save, load) and corpus BLEU
    evaluation.py  score_translations: BLEU and chrF with sacreBLEU signatures, sample tables
    trainer.py     TrainConfig and Trainer (the training loop behind examples/train_translate.py)
    runs.py        RunFolder (one run per output folder, a lock) and StopSignals (SIGINT/SIGTERM)
    errors.py      TrainingError, NonFiniteError, RunFolderError, Interrupted

    translator, _ = Translator.load("runs/translate/best.npz")
    translator.translate(["我有苹果。"])          # ['I have an apple.']
"""
from .tokenizers import (detokenize, detokenize_en, find_proper_nouns, tokenize, tokenize_en,
                         tokenize_zh)
from .parallel import make_batches, read_tsv, train_dev_split
from .corpus import (DOC_EXAMPLES, ENGLISH_PROPER_NOUNS, FIXED_PHRASES, builtin_splits,
                     generate_corpus, held_out_samples)
from .translator import LongSentenceWarning, Translator, corpus_bleu
from .evaluation import Scores, bleu_score, format_samples, score_translations
from .trainer import TrainConfig, Trainer
from .errors import Interrupted, NonFiniteError, RunFolderError, TrainingError

__all__ = [
    "tokenize", "detokenize", "tokenize_zh", "tokenize_en", "detokenize_en", "find_proper_nouns",
    "read_tsv", "train_dev_split", "make_batches",
    "DOC_EXAMPLES", "FIXED_PHRASES", "ENGLISH_PROPER_NOUNS", "generate_corpus", "builtin_splits",
    "held_out_samples",
    "Translator", "corpus_bleu", "LongSentenceWarning", "TrainConfig", "Trainer",
    "Scores", "score_translations", "bleu_score", "format_samples",
    "TrainingError", "NonFiniteError", "RunFolderError", "Interrupted",
]
