"""The built-in corpus's sampler: random sentences from the grammar, the corpus and its splits.

:func:`generate_corpus` draws distinct sentence pairs with a seeded generator (the same seed
always gives the same corpus, whatever ``PYTHONHASHSEED``), :func:`builtin_splits` cuts it into
train / dev / test, :func:`held_out_samples` picks test sentences to show.
"""

from __future__ import annotations

import random
from functools import lru_cache

from .grammar import (
    noun_phrase, object_, profession, render_action, render_description, render_existence,
    render_identity, render_name, render_state, subject,
)
from .lexicon import (
    ADJECTIVES, ALL_TENSES, DESTINATIONS, DOC_EXAMPLES, FIXED_PHRASES, FUTURE, FUTURE_TIMES,
    HABITUAL_TIMES, LOCATIONS, MAX_ZH_CHARS, MIN_ZH_CHARS, MOODS, NAMES, NOUNS, NUMBERS, PAST,
    PAST_TIMES, PLACES, PRESENT, PRONOUNS, PROFESSIONS, RELATIONAL_PROFESSIONS, ROLES,
    SCALE_TIMES, STATE_TIMES, TRAITS, VERBS, Noun, Phrase,
)

__all__ = ["generate_corpus", "builtin_splits", "held_out_samples"]


# --------------------------------------------------------------------------------------------
# Sampling sentences
# --------------------------------------------------------------------------------------------

_PRONOUN_KEYS = list(PRONOUNS)
_NAME_KEYS = list(NAMES)
_ROLE_KEYS = list(ROLES)


def _pick_person_key(rng: random.Random, *, allow_roles: bool = True,
                     avoid: tuple[str, ...] = ()) -> str:
    while True:
        r = rng.random()
        if r < 0.45:
            key = rng.choice(_PRONOUN_KEYS)
        elif r < 0.8 or not allow_roles:
            key = rng.choice(_NAME_KEYS)
        else:
            key = rng.choice(_ROLE_KEYS)
        if key not in avoid and not _same_speaker(key, avoid):
            return key


def _same_speaker(key: str, others: tuple[str, ...]) -> bool:
    """我 and 我们 (or 你 and 你) in one clause read as reflexive ("I saw us"): avoid them."""
    if key not in PRONOUNS or PRONOUNS[key].person == 3:
        return False
    return any(o in PRONOUNS and PRONOUNS[o].person == PRONOUNS[key].person for o in others)


def _question_subject_keys(rng: random.Random) -> str:
    # Questions about oneself ("Do I like cats?") are odd; ask about others.
    return _pick_person_key(rng, avoid=("我", "我们"))


def _pick_determiner(rng: random.Random, noun: Noun, *, generic: bool, negative: bool,
                     question: bool, quantities: bool = True, owned: bool = True) -> str:
    """Which determiners make sense here (see the convention in the module docstring)."""
    if "subject" in noun.tags:
        return "bare"
    if generic or negative or not quantities:
        options = [("bare", 6), ("this", 1), ("that", 1), ("possessive", 3)]
        if not noun.is_mass:
            options += [("these", 1), ("those", 1)]
    else:
        options = [("bare", 6), ("this", 1), ("that", 1), ("possessive", 3)]
        if noun.containers or not noun.is_mass:
            options.append(("number", 6))
        if not noun.is_mass:
            options += [("these", 1), ("those", 1)]
        if not question:
            options += [("many", 1), ("some", 1)]
    if noun.is_mass and not noun.containers:
        options = [o for o in options if o[0] not in ("this", "that", "number")]
    if not owned:
        options = [o for o in options if o[0] != "possessive"]
    keys, weights = zip(*options)
    return rng.choices(keys, weights)[0]


def _random_noun_phrase(rng: random.Random, noun: Noun, *, generic: bool = False,
                        negative: bool = False, question: bool = False,
                        quantities: bool = True, owned: bool = True,
                        determiner: str | None = None) -> Phrase:
    determiner = determiner or _pick_determiner(rng, noun, generic=generic, negative=negative,
                                                question=question, quantities=quantities,
                                                owned=owned)
    attributive = [a for a in noun.adjectives if ADJECTIVES[a].attributive]
    adjective = rng.choice(attributive) if attributive and rng.random() < 0.3 else None
    number = rng.choices(list(NUMBERS), [4, 3, 3, 2, 2, 1, 1])[0]
    owner = rng.choice(_PRONOUN_KEYS + _NAME_KEYS)
    container = rng.choice(noun.containers).zh if noun.containers else None
    return noun_phrase(noun, determiner, number=number, adjective=adjective, owner=owner,
                       container=container, generic=generic)


_NOUNS_BY_TAG: dict[str, list[Noun]] = {}
for _noun in NOUNS.values():
    for _tag in _noun.tags:
        _NOUNS_BY_TAG.setdefault(_tag, []).append(_noun)


def _sample_action(rng: random.Random) -> tuple[str, str]:
    verb = rng.choice(list(VERBS.values()))
    tense = rng.choices(verb.tenses, [{PRESENT: 4, PAST: 4, FUTURE: 3}[t] for t in verb.tenses])[0]
    mood = rng.random()
    negative, question = mood < 0.2, 0.2 <= mood < 0.4

    subj_key = _question_subject_keys(rng) if question else _pick_person_key(rng)
    subj = subject(subj_key)

    time, often = None, False
    fitting = SCALE_TIMES[verb.time_scale]
    if tense == PAST and rng.random() < 0.7:
        time = rng.choice([t for t in PAST_TIMES if t.zh in fitting])
    elif tense == FUTURE:
        time = rng.choice([t for t in FUTURE_TIMES if t.zh in fitting])
    elif tense == PRESENT and verb.habitual:
        r = rng.random()
        if r < 0.15:
            often = True
        elif r < 0.35 and not negative:
            time = rng.choice(HABITUAL_TIMES)

    obj = None
    if verb.objects and not (verb.object_optional and rng.random() < 0.4):
        # sorted: a frozenset's order changes with PYTHONHASHSEED, and the corpus must not
        nouns = [n for tag in sorted(verb.objects) for n in _NOUNS_BY_TAG.get(tag, ())]
        if "person" in verb.objects and (not nouns or rng.random() < 0.75):
            obj = object_(_pick_person_key(rng, avoid=(subj_key,)))
        else:
            obj = _random_noun_phrase(rng, rng.choice(nouns), generic=verb.generic,
                                      negative=negative, question=question,
                                      quantities=verb.quantities, owned=not verb.creates)
    recipient = None
    if verb.recipient and rng.random() < 0.5:
        recipient = object_(_pick_person_key(rng, allow_roles=False, avoid=(subj_key,)))
    destination = rng.choice(DESTINATIONS) if verb.destination else None
    place = None
    if verb.places and rng.random() < 0.4:
        place = PLACES[rng.choice(verb.places)]
    companion = None
    if verb.companion and rng.random() < 0.2:
        companion = object_(_pick_person_key(rng, avoid=(subj_key,)))

    return render_action(subj, verb, obj=obj, recipient=recipient, destination=destination,
                         tense=tense, negative=negative, question=question, time=time,
                         time_first=time is not None and rng.random() < 0.25, place=place,
                         companion=companion, often=often, with_hui=rng.random() < 0.6)


def _sample_state(rng: random.Random) -> tuple[str, str]:
    mood = rng.random()
    negative, question = mood < 0.2, 0.2 <= mood < 0.4
    subj_key = _question_subject_keys(rng) if question else _pick_person_key(rng)
    if rng.random() < 0.25:
        return render_state(subj_key, rng.choice(list(TRAITS)), negative=negative,
                            question=question)
    tense = rng.choices(ALL_TENSES, [4, 3, 3])[0]
    time = None
    if tense != PRESENT or rng.random() < 0.5:     # only a time word marks the past here
        time = rng.choice(STATE_TIMES[tense])
    return render_state(subj_key, rng.choice(list(MOODS)), tense=tense, negative=negative,
                        question=question, time=time,
                        time_first=time is not None and rng.random() < 0.25,
                        with_hui=rng.random() < 0.6)


_DESCRIBABLE = [n for n in NOUNS.values() if not n.is_mass and n.adjectives]


def _sample_description(rng: random.Random) -> tuple[str, str]:
    noun = rng.choice(_DESCRIBABLE)
    determiner = rng.choice(("this", "that", "these", "those", "possessive", "possessive"))
    thing = _random_noun_phrase(rng, noun, determiner=determiner)
    # Describe with an adjective the noun phrase does not already contain ("this red apple is red").
    choices = [a for a in noun.adjectives if a not in thing.zh] or list(noun.adjectives)
    mood = rng.random()
    return render_description(thing, rng.choice(choices), negative=mood < 0.2,
                              question=0.2 <= mood < 0.4)


def _sample_identity(rng: random.Random) -> tuple[str, str]:
    mood = rng.random()
    negative, question = mood < 0.2, 0.2 <= mood < 0.4
    subj_key = _pick_person_key(rng, allow_roles=False, avoid=("我",) if question else ())
    subj = subject(subj_key)
    job = rng.choice(list(PROFESSIONS))
    r = rng.random()
    if job == "朋友" or (r < 0.3 and job in RELATIONAL_PROFESSIONS):
        owner = _pick_person_key(rng, allow_roles=False, avoid=(subj_key,))
        predicate = profession(job, plural=subj.plural, owner=owner)
    else:
        predicate = profession(job, plural=subj.plural, good=r < 0.5)
    return render_identity(subj, predicate, negative=negative, question=question)


def _sample_existence(rng: random.Random) -> tuple[str, str]:
    location = rng.choice(list(LOCATIONS.values()))
    noun = NOUNS[rng.choice(location.nouns)]
    mood = rng.random()
    negative, question = mood < 0.15, 0.15 <= mood < 0.35
    if negative:
        determiner = "bare"
    elif noun.is_mass:
        determiner = rng.choice(("bare", "many", "some"))
    else:
        determiner = rng.choices(("bare", "number", "many", "some"), (3, 4, 1, 1))[0]
        if question and determiner == "some":
            determiner = "bare"
    thing = _random_noun_phrase(rng, noun, determiner=determiner)
    return render_existence(location, thing, negative=negative, question=question)


def _sample_name(rng: random.Random) -> tuple[str, str]:
    owner = rng.choice(("我", "你", "他", "她"))
    gender = PRONOUNS[owner].gender
    name = rng.choice([n for n, (_, g) in NAMES.items() if not gender or g == gender])
    mood = rng.random()
    return render_name(owner, name, negative=mood < 0.2, question=0.2 <= mood < 0.4)


_SENTENCE_KINDS = (_sample_action, _sample_state, _sample_description, _sample_identity,
                   _sample_existence, _sample_name)
_SENTENCE_WEIGHTS = (62, 10, 7, 8, 11, 2)


def _sample_pair(rng: random.Random) -> tuple[str, str]:
    return rng.choices(_SENTENCE_KINDS, _SENTENCE_WEIGHTS)[0](rng)


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _generate(seed: int, n_pairs: int) -> tuple[tuple[str, str], ...]:
    rng = random.Random(seed)
    translations: dict[str, str] = dict(DOC_EXAMPLES + FIXED_PHRASES)
    budget = 50 * n_pairs + 1000          # far more draws than ever needed; guards a bad edit
    while len(translations) < n_pairs:
        budget -= 1
        if budget < 0:
            raise RuntimeError(f"could not generate {n_pairs} distinct sentences")
        zh, en = _sample_pair(rng)
        if not MIN_ZH_CHARS <= len(zh) - 1 <= MAX_ZH_CHARS:
            continue
        known = translations.setdefault(zh, en)
        if known != en:
            # The grammar must give one translation per Chinese sentence; two mean a bug in
            # the lexicon or the rendering, so fail loudly instead of training on noise.
            raise AssertionError(f"grammar bug: {zh} -> {known!r} and {en!r}")
    return tuple(translations.items())[:n_pairs]


def generate_corpus(seed: int = 0, n_pairs: int = 6000) -> list[tuple[str, str]]:
    """``n_pairs`` distinct ``(chinese, english)`` pairs, the same for the same seed.

    The doc examples and the fixed phrases come first, then sentences drawn at random from the
    grammar.  Distinct means distinct Chinese sentences; each has one canonical English
    translation (different Chinese sentences may share one: 昨天我... / 我昨天...).
    """
    return list(_generate(seed, n_pairs))


def builtin_splits(seed: int = 0, n_pairs: int = 6000, n_dev: int = 500,
                   n_test: int = 500) -> dict[str, list[tuple[str, str]]]:
    """The built-in corpus split into ``{"train", "dev", "test"}`` (5000 / 500 / 500 by
    default).  No Chinese sentence is in two splits; the doc examples and fixed phrases are
    always in train (they come first there), the rest is shuffled by ``seed``."""
    pinned_zh = {zh for zh, _ in DOC_EXAMPLES + FIXED_PHRASES}
    pairs = generate_corpus(seed, n_pairs)
    pinned = [p for p in pairs if p[0] in pinned_zh]
    rest = [p for p in pairs if p[0] not in pinned_zh]
    if n_dev + n_test > len(rest):
        raise ValueError(f"n_dev + n_test = {n_dev + n_test} exceeds the {len(rest)} "
                         "sentences available")
    random.Random(seed + 1_000_003).shuffle(rest)   # a stream apart from the generator's
    return {
        "train": pinned + rest[n_dev + n_test:],
        "dev": rest[:n_dev],
        "test": rest[n_dev:n_dev + n_test],
    }


def held_out_samples(n: int = 8, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` sentences of the test split (never seen in training), to show as examples.

    Picks a spread of lengths, from short to long, so the samples show both easy and hard
    cases."""
    test = builtin_splits(seed)["test"]
    by_length = sorted(test, key=lambda pair: (len(pair[0]), pair))
    if n >= len(by_length):
        return by_length
    step = len(by_length) / n
    return [by_length[int(i * step + step / 2)] for i in range(n)]
