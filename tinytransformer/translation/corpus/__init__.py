"""A built-in Chinese -> English parallel corpus, generated from a small bilingual grammar.

The translation example needs data that a small Transformer can learn in minutes on a CPU, yet
that still shows what makes translation more than word-for-word substitution:

* word order: Chinese puts time and place before the verb, English after the object
  (我昨天在公园见了他 -> I saw him in the park yesterday.);
* agreement: 他吃苹果 -> He eats an apple. / 我吃苹果 -> I eat an apple.;
* articles and plurals: 三个苹果 -> three apples, 一本书 -> a book, 两只老鼠 -> two mice;
* tense, which Chinese marks with words, not verb endings: 了 and 昨天 (past), 会 and 明天
  (future); negation with 不 / 没 (did not), questions with 吗 (Do you like cats?);
* adjectives, pronouns (he / him / his), names, "there is / there are", "to be".

Every sentence is built from lexicon tables (nouns with their measure words and irregular
plurals, verbs with their irregular forms, places, times, ...) by a handful of rendering
functions that produce the Chinese and the English side together, so the English is
grammatical by construction and each Chinese sentence has exactly one canonical translation.

Conventions (applied everywhere, so the model can learn them):

* Chinese statements end in "。", questions in "？"; English starts with a capital letter and
  ends in "." or "?".
* A bare countable object means one unspecified thing: 我有苹果 -> I have an apple.,
  史蒂夫建造房子 -> Steve builds a house.  Verbs of liking (喜欢, 爱) read it as generic
  instead: 你喜欢猫吗？ -> Do you like cats?
* The future always has a time word (明天, 下周, ...); 会 is then optional.  (Without a time word
  会 would usually mean "can": 我会游泳 = I can swim.)
* Positive past takes 了 right after the verb (见了他, 跑步了); negative past is 没 + verb with no
  了 (我没吃苹果 -> I did not eat an apple.).

The package holds three modules, read in this order:

* :mod:`.lexicon` - the data: word types and tables, doc examples, set phrases;
* :mod:`.grammar` - the ``render_*`` functions and :func:`noun_phrase`;
* :mod:`.sampler` - :func:`generate_corpus`, :func:`builtin_splits`, :func:`held_out_samples`.

Public API: those three functions, :data:`DOC_EXAMPLES`, :data:`FIXED_PHRASES`,
:data:`ENGLISH_PROPER_NOUNS` (for the English detokenizer); the ``render_*`` functions and the
lexicon tables are public too, for tests and for anyone who wants to build particular sentences.
"""
from .grammar import (
    noun_phrase, object_, possessor, profession, render_action, render_description,
    render_existence, render_identity, render_name, render_state, subject,
)
from .lexicon import (
    DOC_EXAMPLES, ENGLISH_PROPER_NOUNS, FIXED_PHRASES, FUTURE, MAX_ZH_CHARS, MIN_ZH_CHARS, PAST,
    PRESENT,
)
from .sampler import builtin_splits, generate_corpus, held_out_samples

__all__ = [
    "DOC_EXAMPLES", "FIXED_PHRASES", "ENGLISH_PROPER_NOUNS",
    "generate_corpus", "builtin_splits", "held_out_samples",
    "subject", "object_", "possessor", "noun_phrase", "profession",
    "render_action", "render_state", "render_description", "render_identity",
    "render_existence", "render_name",
    "PRESENT", "PAST", "FUTURE", "MIN_ZH_CHARS", "MAX_ZH_CHARS",
]
