"""The built-in corpus's grammar: noun phrases and sentences rendered in both languages at once.

Each ``render_*`` function returns a ``(chinese, english)`` pair built from the tables of
:mod:`.lexicon`, so the English is grammatical by construction (agreement, articles, plurals,
tense, word order) and each Chinese sentence has exactly one translation.
"""

from __future__ import annotations

from .lexicon import (
    ADJECTIVES, FUTURE, LOCATIONS, MOODS, NAMES, NOUNS, NUMBERS, PAST, PLACES, PRESENT,
    PRONOUNS, PROFESSIONS, ROLES, TIMES, TRAITS, VERBS, Location, Noun, Phrase, Place, TimeWord,
    Verb,
)

__all__ = [
    "with_indefinite_article", "subject", "object_", "possessor", "noun_phrase", "DETERMINERS",
    "render_action", "render_state", "render_description", "profession", "render_identity",
    "render_existence", "render_name",
]


# --------------------------------------------------------------------------------------------
# Building phrases
# --------------------------------------------------------------------------------------------

_AN_EXCEPTIONS = {"one", "university", "unit", "user", "european"}   # vowel letter, "a" sound
_AN_SILENT_H = {"hour", "honest", "honour", "honor"}


def with_indefinite_article(words: str) -> str:
    """"apple" -> "an apple", "red apple" -> "a red apple" (by the sound of the first word)."""
    first = words.split()[0].lower()
    vowel_sound = (first[0] in "aeiou" and first not in _AN_EXCEPTIONS) or first in _AN_SILENT_H
    return ("an " if vowel_sound else "a ") + words


def _capitalise(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def subject(zh: str) -> Phrase:
    """A person as subject: a pronoun (他 -> he), a name or a role (老师 -> the teacher)."""
    if zh in PRONOUNS:
        p = PRONOUNS[zh]
        return Phrase(zh, p.subject, p.person, p.plural)
    return _name_or_role(zh)


def object_(zh: str) -> Phrase:
    """A person as object or after "with": 他 -> him; names and roles do not change."""
    if zh in PRONOUNS:
        p = PRONOUNS[zh]
        return Phrase(zh, p.object, p.person, p.plural)
    return _name_or_role(zh)


def _name_or_role(zh: str) -> Phrase:
    if zh in NAMES:
        return Phrase(zh, NAMES[zh][0])
    return ROLES[zh]


def possessor(zh: str) -> Phrase:
    """Whose: 我 -> my, 玛丽 -> Mary's.  The Chinese side gets 的 in :func:`noun_phrase`."""
    if zh in PRONOUNS:
        return Phrase(zh, PRONOUNS[zh].possessive)
    return Phrase(zh, NAMES[zh][0] + "'s")


DETERMINERS = ("bare", "number", "this", "that", "these", "those", "possessive", "many", "some")
_DEMONSTRATIVES = {"this": "这", "that": "那", "these": "这些", "those": "那些"}


def noun_phrase(noun: str | Noun, determiner: str = "bare", *, number: str | None = None,
                adjective: str | None = None, owner: str | None = None,
                container: str | None = None, generic: bool = False) -> Phrase:
    """Build a noun phrase in both languages.

    ``determiner`` is one of :data:`DETERMINERS`:

    ==========  =====================  ===================================================
    bare        红苹果                 "a red apple" (``generic``: "red apples"); mass: "tea"
    number      三个苹果 / 两杯茶      "three apples" (一 -> "a"/"an") / "two cups of tea"
    this, that  这本书 / 那杯茶        "this book" / "that cup of tea"
    these, ...  这些书                 "these books" (count nouns only)
    possessive  我的新书 / 玛丽的猫    "my new book" / "Mary's cat" (``owner``: 我, 玛丽)
    many, some  很多书 / 一些水        "many books" / "a lot of water", "some books"
    ==========  =====================  ===================================================

    ``number`` is a key of :data:`NUMBERS` (一, 两, 三, ...), ``adjective`` a key of
    :data:`ADJECTIVES` (count nouns only), ``container`` the measure word of a mass noun's
    container (defaults to its first one).
    """
    noun = NOUNS[noun] if isinstance(noun, str) else noun
    if noun.is_mass:
        if adjective:
            raise ValueError(f"mass noun {noun.zh} takes no adjective")
        return _mass_noun_phrase(noun, determiner, number, owner, container)

    adj = ADJECTIVES[adjective] if adjective else None
    adj_zh = adj.zh if adj else ""

    def english(plural: bool) -> str:
        head = noun.plural if plural else noun.singular
        return f"{adj.en} {head}" if adj else head

    if determiner == "bare":
        if generic:
            return Phrase(adj_zh + noun.zh, english(True), plural=True)
        return Phrase(adj_zh + noun.zh, with_indefinite_article(english(False)))
    if determiner == "number":
        num = NUMBERS[number]
        zh = num.zh + noun.measure + adj_zh + noun.zh
        if num.value == 1:
            return Phrase(zh, with_indefinite_article(english(False)))
        return Phrase(zh, f"{num.en} {english(True)}", plural=True)
    if determiner in ("this", "that"):
        zh = _DEMONSTRATIVES[determiner] + noun.measure + adj_zh + noun.zh
        return Phrase(zh, f"{determiner} {english(False)}")
    if determiner in ("these", "those"):
        return Phrase(_DEMONSTRATIVES[determiner] + adj_zh + noun.zh,
                      f"{determiner} {english(True)}", plural=True)
    if determiner == "possessive":
        whose = possessor(owner)
        return Phrase(f"{whose.zh}的{adj_zh}{noun.zh}", f"{whose.en} {english(False)}")
    if determiner == "many":
        return Phrase("很多" + adj_zh + noun.zh, "many " + english(True), plural=True)
    if determiner == "some":
        return Phrase("一些" + adj_zh + noun.zh, "some " + english(True), plural=True)
    raise ValueError(f"unknown determiner {determiner!r}")


def _mass_noun_phrase(noun: Noun, determiner: str, number: str | None, owner: str | None,
                      container: str | None) -> Phrase:
    if determiner in ("number", "this", "that"):
        if not noun.containers:
            raise ValueError(f"{noun.zh} cannot be counted")
        unit = next((c for c in noun.containers if c.zh == container), noun.containers[0])
        if determiner == "number":
            num = NUMBERS[number]
            zh = num.zh + unit.zh + noun.zh
            if num.value == 1:
                return Phrase(zh, f"a {unit.singular} of {noun.singular}")
            return Phrase(zh, f"{num.en} {unit.plural} of {noun.singular}", plural=True)
        zh = _DEMONSTRATIVES[determiner] + unit.zh + noun.zh
        return Phrase(zh, f"{determiner} {unit.singular} of {noun.singular}")
    if determiner == "bare":
        return Phrase(noun.zh, noun.singular)
    if determiner == "possessive":
        whose = possessor(owner)
        return Phrase(f"{whose.zh}的{noun.zh}", f"{whose.en} {noun.singular}")
    if determiner == "many":
        return Phrase("很多" + noun.zh, "a lot of " + noun.singular)
    if determiner == "some":
        return Phrase("一些" + noun.zh, "some " + noun.singular)
    raise ValueError(f"determiner {determiner!r} does not go with mass noun {noun.zh}")


# --------------------------------------------------------------------------------------------
# Rendering sentences
# --------------------------------------------------------------------------------------------

def _lookup(table: dict, key):
    return table[key] if isinstance(key, str) else key


def _finish(zh_parts: list[str], en_words: list[str], question: bool) -> tuple[str, str]:
    zh = "".join(zh_parts) + ("吗？" if question else "。")
    en = _capitalise(" ".join(w for w in en_words if w)) + ("?" if question else ".")
    return zh, en


def _english_verb_group(subj: Phrase, verb: Verb, tense: str, negative: bool, question: bool,
                        often: bool) -> list[str]:
    """Subject, auxiliary and verb in English order: "he eats", "does he often eat",
    "I did not see", "will they go"."""
    if tense == FUTURE:
        aux, main = "will", verb.base
    elif negative or question:            # do-support
        aux = "did" if tense == PAST else ("does" if subj.third_singular else "do")
        main = verb.base
    else:
        aux = None
        main = verb.past if tense == PAST else (verb.third if subj.third_singular else verb.base)
    adverb = ["often"] if often else []
    if question:
        return [aux, subj.en, *adverb, main]
    return [subj.en, aux, "not" if negative else None, *adverb, main]


def _check_mood(negative: bool, question: bool) -> None:
    if negative and question:
        raise ValueError("the grammar has no negative questions")


def _zh_opening(subj, time, time_first, tense, negative, with_hui, negator):
    """The Chinese words before the predicate: the time word before or after the
    subject, then the future's 会 (不会) or the negator of the present and past."""
    zh = []
    if time and time_first:
        zh.append(time.zh)
    zh.append(subj.zh)
    if time and not time_first:
        zh.append(time.zh)
    if tense == FUTURE:
        zh.append(("不会" if with_hui else "不") if negative else ("会" if with_hui else ""))
    elif negative:
        zh.append(negator)
    return zh


def render_action(subj: Phrase | str, verb: Verb | str, *, obj: Phrase | None = None,
                  recipient: Phrase | None = None, destination: Place | str | None = None,
                  tense: str = PRESENT, negative: bool = False, question: bool = False,
                  time: TimeWord | str | None = None, time_first: bool = False,
                  place: Place | str | None = None, companion: Phrase | None = None,
                  often: bool = False, with_hui: bool = True) -> tuple[str, str]:
    """Someone does something: returns ``(chinese, english)``.

    Chinese order:  [time] subject [time] [不/没/会] [经常] [和 X 一起] [在 place] verb[了] [obj]
    English order:  subject [aux] [not] [often] verb [recipient] [obj] [place] [with X] [time]

    This is where time and place move: 我昨天在公园见了他 -> I saw him in the park yesterday.
    ``time_first`` puts the Chinese time word before the subject (昨天我...), which does not
    change the English.  ``with_hui=False`` drops the optional 会 of a future with a time word.
    A string ``subj`` is looked up with :func:`subject`, strings for ``verb``, ``time``,
    ``place`` and ``destination`` in the lexicon tables.
    """
    _check_mood(negative, question)
    subj = subject(subj) if isinstance(subj, str) else subj
    verb = _lookup(VERBS, verb)
    time = _lookup(TIMES, time) if time is not None else None
    place = _lookup(PLACES, place) if place is not None else None
    destination = _lookup(PLACES, destination) if destination is not None else None
    if tense == FUTURE and time is None:
        raise ValueError("the future needs a time word (会 alone would mean 'can')")
    if negative and verb.present_negator != "不":
        with_hui = True               # 有 is never negated with a bare 不: 不会有, not 不有

    zh = _zh_opening(subj, time, time_first, tense, negative, with_hui,
                     "没" if tense == PAST else verb.present_negator)
    if often:
        zh.append("经常")
    if companion:
        zh.append(f"和{companion.zh}一起")
    if place:
        zh.append("在" + place.zh)
    zh.append(verb.zh)
    if tense == PAST and not negative:
        zh.append("了")               # 见了他, 跑步了 (the 了 of completed actions)
    for part in (recipient, obj):
        if part:
            zh.append(part.zh)
    if destination:
        zh.append(destination.zh)

    en = _english_verb_group(subj, verb, tense, negative, question, often)
    en += [recipient.en if recipient else None, obj.en if obj else None,
           destination.to if destination else None, place.at if place else None,
           f"with {companion.en}" if companion else None, time.en if time else None]
    return _finish(zh, en, question)


def _english_copula(agreement: Phrase, subj_en: str, complement: list[str], tense: str,
                    negative: bool, question: bool) -> list[str]:
    """ "he is tired", "were you", "there are", "it will not be" ... in English order."""
    if tense == FUTURE:
        if question:
            return ["will", subj_en, "be", *complement]
        return [subj_en, "will", "not" if negative else None, "be", *complement]
    if tense == PAST:
        be = "was" if agreement.person != 2 and not agreement.plural else "were"
    elif agreement.person == 1 and not agreement.plural:
        be = "am"
    else:
        be = "is" if agreement.third_singular else "are"
    if question:
        return [be, subj_en, *complement]
    return [subj_en, be, "not" if negative else None, *complement]


def render_state(subj: Phrase | str, adjective: str, *, tense: str = PRESENT,
                 negative: bool = False, question: bool = False,
                 time: TimeWord | str | None = None, time_first: bool = False,
                 with_hui: bool = True) -> tuple[str, str]:
    """How someone is: 他昨天很累 -> He was tired yesterday.  ``adjective`` is a key of
    :data:`MOODS` or :data:`TRAITS`.  Chinese uses 很 only in positive statements
    (他很累 / 他不累 / 他累吗？)."""
    _check_mood(negative, question)
    subj = subject(subj) if isinstance(subj, str) else subj
    time = _lookup(TIMES, time) if time is not None else None
    english_adjective = MOODS.get(adjective) or TRAITS[adjective]

    zh = _zh_opening(subj, time, time_first, tense, negative, with_hui, "不")
    if not negative and not question:
        zh.append("很")
    zh.append(adjective)

    en = _english_copula(subj, subj.en, [english_adjective], tense, negative, question)
    en.append(time.en if time else None)
    return _finish(zh, en, question)


def render_description(thing: Phrase, adjective: str, *, negative: bool = False,
                       question: bool = False) -> tuple[str, str]:
    """What a thing is like: 这本书很新 -> This book is new.  (``thing`` from
    :func:`noun_phrase`, ``adjective`` a key of :data:`ADJECTIVES`.)"""
    _check_mood(negative, question)
    adj = ADJECTIVES[adjective]
    zh = [thing.zh, "不" if negative else ("" if question else "很"), adj.zh]
    en = _english_copula(thing, thing.en, [adj.en], PRESENT, negative, question)
    return _finish(zh, en, question)


def profession(zh: str, *, plural: bool, good: bool = False, owner: str | None = None) -> Phrase:
    """What someone is, after 是: 医生 -> "a doctor" / "doctors"; ``good``: 一个好医生 ->
    "a good doctor" (plural 好医生 -> "good doctors"); ``owner``: 我的老师 -> "my teacher"."""
    singular, plural_en = PROFESSIONS[zh]
    head = plural_en if plural else singular
    if owner is not None:
        whose = possessor(owner)
        return Phrase(f"{whose.zh}的{zh}", f"{whose.en} {head}", plural=plural)
    if good:
        return Phrase(("好" if plural else "一个好") + zh,
                      f"good {head}" if plural else f"a good {head}", plural=plural)
    return Phrase(zh, head if plural else with_indefinite_article(head), plural=plural)


def render_identity(subj: Phrase | str, predicate: Phrase, *, negative: bool = False,
                    question: bool = False) -> tuple[str, str]:
    """Who someone is: 他们是医生 -> They are doctors.  (``predicate`` from :func:`profession`.)"""
    _check_mood(negative, question)
    subj = subject(subj) if isinstance(subj, str) else subj
    zh = [subj.zh, "不是" if negative else "是", predicate.zh]
    en = _english_copula(subj, subj.en, [predicate.en], PRESENT, negative, question)
    return _finish(zh, en, question)


def render_existence(location: Location | str, thing: Phrase, *, negative: bool = False,
                     question: bool = False) -> tuple[str, str]:
    """There is / there are: 桌子上有三本书 -> There are three books on the table.  With
    negation the thing should be a bare noun phrase: 桌子上没有书 -> There is no book ..."""
    _check_mood(negative, question)
    location = _lookup(LOCATIONS, location)
    zh = [location.zh, "没有" if negative else "有", thing.zh]
    if negative:
        # "no" replaces the article: "a book" -> "no book"
        bare = thing.en.split(" ", 1)[1] if thing.en.split()[0] in ("a", "an") else thing.en
        en = _english_copula(thing, "there", [f"no {bare}"], PRESENT, False, False)
    else:
        en = _english_copula(thing, "there", [thing.en], PRESENT, False, question)
    en.append(location.en)
    return _finish(zh, en, question)


def render_name(owner: str, name: str, *, negative: bool = False,
                question: bool = False) -> tuple[str, str]:
    """Someone's name: 他叫汤姆 -> His name is Tom.  (``owner`` is a pronoun.)"""
    _check_mood(negative, question)
    whose = PRONOUNS[owner].possessive
    zh = [owner, "不叫" if negative else "叫", name]
    name_phrase = Phrase("", f"{whose} name")
    en = _english_copula(name_phrase, name_phrase.en, [NAMES[name][0]], PRESENT, negative,
                         question)
    return _finish(zh, en, question)
