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

Public API: :func:`generate_corpus`, :func:`builtin_splits`, :func:`held_out_samples`,
:data:`DOC_EXAMPLES`, :data:`ENGLISH_PROPER_NOUNS`; the ``render_*`` functions and the lexicon
tables are public too, for tests and for anyone who wants to build particular sentences.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "DOC_EXAMPLES", "FIXED_PHRASES", "ENGLISH_PROPER_NOUNS",
    "generate_corpus", "builtin_splits", "held_out_samples",
    "subject", "object_", "possessor", "noun_phrase",
    "render_action", "render_state", "render_description", "render_identity",
    "render_existence", "render_name",
    "PRESENT", "PAST", "FUTURE",
]

PRESENT, PAST, FUTURE = "present", "past", "future"
ALL_TENSES = (PRESENT, PAST, FUTURE)

# The examples quoted in the documentation.  They are always part of the corpus and always in
# the training split, so the trained model can be shown translating them.
DOC_EXAMPLES: list[tuple[str, str]] = [
    ("好久不见。", "Long time no see."),
    ("史蒂夫建造房子。", "Steve builds a house."),
    ("我有苹果。", "I have an apple."),
    ("我昨天在公园见了他。", "I saw him in the park yesterday."),
]

# Set phrases that no grammar rule produces; like the doc examples they always go to training.
FIXED_PHRASES: list[tuple[str, str]] = [
    ("你好。", "Hello."),
    ("谢谢。", "Thank you."),
    ("不客气。", "You are welcome."),
    ("再见。", "Goodbye."),
    ("早上好。", "Good morning."),
    ("晚安。", "Good night."),
    ("对不起。", "I am sorry."),
    ("没关系。", "It does not matter."),
    ("生日快乐！", "Happy birthday!"),
    ("欢迎。", "Welcome."),
    ("我不知道。", "I do not know."),
    ("请坐。", "Please sit down."),
    ("你叫什么名字？", "What is your name?"),
]

# Chinese sentences outside this length range (characters, final punctuation excluded) are not
# generated: shorter ones are too trivial, longer ones make batches slow for little gain.
MIN_ZH_CHARS, MAX_ZH_CHARS = 3, 16


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Phrase:
    """A constituent in both languages, with what English agreement needs to know about it."""

    zh: str
    en: str
    person: int = 3          # grammatical person: 1 (I, we), 2 (you), 3 (everything else)
    plural: bool = False

    @property
    def third_singular(self) -> bool:
        """True where English present tense takes -s (he eats) and "is"."""
        return self.person == 3 and not self.plural


@dataclass(frozen=True)
class Pronoun:
    zh: str
    subject: str             # I
    object: str              # me
    possessive: str          # my
    person: int
    plural: bool
    gender: str              # "m", "f" or "" (used to pair 他/她 with names)


@dataclass(frozen=True)
class Adjective:
    zh: str
    en: str
    attributive: bool        # usable directly before a noun (红苹果); the others only as 很贵


@dataclass(frozen=True)
class Container:
    """How a mass noun is counted: 一杯茶 -> a cup of tea."""

    zh: str
    singular: str
    plural: str


@dataclass(frozen=True)
class Noun:
    zh: str
    singular: str
    plural: str | None       # None for mass nouns (water, bread, math)
    measure: str             # Chinese measure word of a count noun (个, 本, 只, ...)
    tags: frozenset[str]     # semantic classes; verbs and locations select objects by tag
    adjectives: tuple[str, ...] = ()           # keys of ADJECTIVES that make sense with it
    containers: tuple[Container, ...] = ()     # mass nouns only

    @property
    def is_mass(self) -> bool:
        return self.plural is None


@dataclass(frozen=True)
class Verb:
    zh: str
    base: str                # eat (may be several words: take a walk, wait for)
    third: str               # eats
    past: str                # ate
    objects: frozenset[str] = frozenset()   # noun tags accepted as object; "person" = people
    object_optional: bool = False
    generic: bool = False    # a bare count object reads as "cats", not "a cat" (喜欢, 爱)
    tenses: tuple[str, ...] = ALL_TENSES
    habitual: bool = True    # can take 经常 / 每天 (not stative verbs such as 喜欢)
    places: tuple[str, ...] = ()            # keys of PLACES that make sense with 在
    companion: bool = False  # can take 和 X 一起 (with X)
    recipient: bool = False  # can take an indirect object: 教我们英语 -> teach us English
    destination: bool = False               # 去 + place -> go to + place
    quantities: bool = True  # object may be counted or quantified (三本书, 很多书); not for
                             # verbs where that reads oddly ("rides four bicycles")
    creates: bool = False    # the object does not exist yet, so it has no owner
                             # ("writes Lucy's book" reads oddly)
    time_scale: str = "days"  # which past/future time words fit: "days" (yesterday, next
                              # week), "years" (last week, next year) or "any"
    present_negator: str = "不"              # 有 is negated with 没 in every tense


@dataclass(frozen=True)
class TimeWord:
    zh: str
    en: str
    tense: str


@dataclass(frozen=True)
class Place:
    zh: str
    at: str                  # after 在: in the park
    to: str | None           # after 去: to the park (None: not a destination)


@dataclass(frozen=True)
class Location:
    """Where something is, for 有 sentences: 桌子上有书 -> There is a book on the table."""

    zh: str
    en: str
    nouns: tuple[str, ...]


@dataclass(frozen=True)
class Number:
    zh: str
    en: str
    value: int


# --------------------------------------------------------------------------------------------
# Lexicon
# --------------------------------------------------------------------------------------------

PRONOUNS: dict[str, Pronoun] = {p.zh: p for p in [
    Pronoun("我", "I", "me", "my", 1, False, ""),
    Pronoun("你", "you", "you", "your", 2, False, ""),
    Pronoun("他", "he", "him", "his", 3, False, "m"),
    Pronoun("她", "she", "her", "her", 3, False, "f"),
    Pronoun("我们", "we", "us", "our", 1, True, ""),
    Pronoun("他们", "they", "them", "their", 3, True, ""),
    Pronoun("她们", "they", "them", "their", 3, True, ""),
]}

# name -> (English, gender)
NAMES: dict[str, tuple[str, str]] = {
    "史蒂夫": ("Steve", "m"), "汤姆": ("Tom", "m"), "约翰": ("John", "m"),
    "大卫": ("David", "m"), "彼得": ("Peter", "m"),
    "玛丽": ("Mary", "f"), "安娜": ("Anna", "f"), "莉莉": ("Lily", "f"),
    "露西": ("Lucy", "f"), "艾米": ("Amy", "f"),
}

# People referred to by role.  They are the same as subject and object.
ROLES: dict[str, Phrase] = {r.zh: r for r in [
    Phrase("老师", "the teacher"), Phrase("医生", "the doctor"),
    Phrase("我的朋友", "my friend"), Phrase("我妈妈", "my mother"),
    Phrase("我爸爸", "my father"), Phrase("我哥哥", "my brother"), Phrase("我姐姐", "my sister"),
    Phrase("孩子们", "the children", plural=True), Phrase("学生们", "the students", plural=True),
]}

ADJECTIVES: dict[str, Adjective] = {a.zh: a for a in [
    Adjective("大", "big", True), Adjective("小", "small", True),
    Adjective("红", "red", True), Adjective("白", "white", True), Adjective("黑", "black", True),
    Adjective("新", "new", True), Adjective("旧", "old", True),
    Adjective("贵", "expensive", False), Adjective("便宜", "cheap", False),
    Adjective("好吃", "delicious", False), Adjective("漂亮", "beautiful", False),
]}

# How people feel (can change from day to day, so they take time words) ...
MOODS: dict[str, str] = {
    "高兴": "happy", "累": "tired", "忙": "busy", "饿": "hungry", "渴": "thirsty",
    "生气": "angry",
}
# ... and what they are like (no time words: "He was tall yesterday" would be odd).
TRAITS: dict[str, str] = {"高": "tall", "聪明": "clever", "友好": "friendly"}


def _count(zh, forms, measure, tags, adjectives=""):
    singular, plural = forms.split("/")
    return Noun(zh, singular, plural, measure, frozenset(tags.split()), tuple(adjectives.split()))


def _mass(zh, en, tags, containers=""):
    """``containers`` is "杯:cup/cups 瓶:bottle/bottles"."""
    parsed = []
    for item in containers.split():
        measure, forms = item.split(":")
        parsed.append(Container(measure, *forms.split("/")))
    return Noun(zh, en, None, "", frozenset(tags.split()), (), tuple(parsed))


NOUNS: dict[str, Noun] = {n.zh: n for n in [
    # food
    _count("苹果", "apple/apples", "个", "food", "大 小 红 好吃 贵 便宜"),
    _count("香蕉", "banana/bananas", "根", "food", "大 小 好吃 便宜"),
    _count("橙子", "orange/oranges", "个", "food", "大 小 好吃"),
    _count("梨", "pear/pears", "个", "food", "大 小 好吃"),
    _count("西瓜", "watermelon/watermelons", "个", "food", "大 小 好吃 贵"),
    _count("鸡蛋", "egg/eggs", "个", "food", "大 小 白"),
    _count("蛋糕", "cake/cakes", "块", "food baked", "大 小 好吃 贵"),
    _mass("面包", "bread", "food baked", "块:piece/pieces"),
    _mass("米饭", "rice", "food", "碗:bowl/bowls"),
    # drinks
    _mass("水", "water", "drink", "杯:glass/glasses 瓶:bottle/bottles"),
    _mass("茶", "tea", "drink", "杯:cup/cups"),
    _mass("咖啡", "coffee", "drink", "杯:cup/cups"),
    _mass("牛奶", "milk", "drink", "杯:glass/glasses 瓶:bottle/bottles"),
    _mass("果汁", "juice", "drink", "杯:glass/glasses 瓶:bottle/bottles"),
    # animals (fish, sheep and mouse for their irregular plurals)
    _count("猫", "cat/cats", "只", "animal pet", "大 小 白 黑 漂亮"),
    _count("狗", "dog/dogs", "只", "animal pet", "大 小 白 黑"),
    _count("鸟", "bird/birds", "只", "animal pet", "小 红 白 黑 漂亮"),
    _count("鱼", "fish/fish", "条", "animal pet", "大 小 红"),
    _count("兔子", "rabbit/rabbits", "只", "animal pet", "大 小 白 黑"),
    _count("马", "horse/horses", "匹", "animal rideable", "大 小 白 黑 漂亮"),
    _count("老鼠", "mouse/mice", "只", "animal", "小 白 黑"),
    _count("羊", "sheep/sheep", "只", "animal", "大 小 白 黑"),
    # things
    _count("书", "book/books", "本", "thing belonging nice readable writable", "新 旧 大 小 红 贵 便宜"),
    _count("笔", "pen/pens", "支", "thing belonging", "新 旧 红 黑 贵 便宜"),
    _count("雨伞", "umbrella/umbrellas", "把", "thing belonging", "新 旧 大 小 红 黑"),
    _count("钥匙", "key/keys", "把", "thing belonging", "新 旧 小"),
    _count("刀", "knife/knives", "把", "thing belonging", "大 小 新 旧"),
    _count("包", "bag/bags", "个", "thing belonging nice", "大 小 新 旧 红 黑 贵 便宜 漂亮"),
    _count("手表", "watch/watches", "块", "thing belonging nice", "新 旧 贵 便宜 漂亮"),
    _count("帽子", "hat/hats", "顶", "thing belonging nice", "新 旧 红 白 黑 漂亮"),
    _count("杯子", "cup/cups", "个", "thing", "大 小 新 红 白 贵"),
    _count("盒子", "box/boxes", "个", "thing", "大 小 新 红 白"),
    _count("椅子", "chair/chairs", "把", "thing", "大 小 新 旧 红 白 黑"),
    _count("桌子", "table/tables", "张", "thing", "大 小 新 旧 白 黑"),
    _count("电脑", "computer/computers", "台", "thing", "新 旧 贵 便宜"),
    _count("车", "car/cars", "辆", "thing nice car", "大 小 新 旧 红 白 黑 贵 便宜 漂亮"),
    _count("自行车", "bicycle/bicycles", "辆", "thing nice rideable", "新 旧 红 黑 贵 便宜"),
    _count("信", "letter/letters", "封", "readable writable"),
    _count("报纸", "newspaper/newspapers", "份", "readable", "新 旧"),
    _count("诗", "poem/poems", "首", "readable writable"),
    _count("电影", "movie/movies", "部", "movie", "新 旧"),
    _count("花", "flower/flowers", "朵", "plant", "大 小 红 白 漂亮"),
    _count("树", "tree/trees", "棵", "plant", "大 小"),
    _count("房子", "house/houses", "座", "structure house", "大 小 新 旧 红 白 贵 漂亮"),
    _count("桥", "bridge/bridges", "座", "structure", "大 小 新 旧"),
    _count("船", "boat/boats", "条", "structure", "大 小 新 旧 红 白"),
    _count("孩子", "child/children", "个", "people"),
    # school subjects (no article, no counting)
    _mass("中文", "Chinese", "subject"), _mass("英语", "English", "subject"),
    _mass("数学", "math", "subject"), _mass("历史", "history", "subject"),
    _mass("音乐", "music", "subject"),
]}

# What people are, for 是 sentences: 他是医生 -> He is a doctor.  朋友 only with a possessor.
PROFESSIONS: dict[str, tuple[str, str]] = {
    "老师": ("teacher", "teachers"), "医生": ("doctor", "doctors"),
    "学生": ("student", "students"), "工程师": ("engineer", "engineers"),
    "司机": ("driver", "drivers"), "厨师": ("cook", "cooks"),
    "警察": ("police officer", "police officers"), "演员": ("actor", "actors"),
    "农民": ("farmer", "farmers"), "护士": ("nurse", "nurses"),
    "朋友": ("friend", "friends"),
}
# The ones that make sense with an owner: 我的老师 (my teacher) but not 我的农民.
RELATIONAL_PROFESSIONS = ("老师", "医生", "学生", "司机", "朋友")

PLACES: dict[str, Place] = {p.zh: p for p in [
    Place("公园", "in the park", "to the park"),
    Place("学校", "at school", "to school"),
    Place("家", "at home", None),                 # "go home" is its own verb, 回家
    Place("图书馆", "in the library", "to the library"),
    Place("商店", "at the store", "to the store"),
    Place("餐厅", "at the restaurant", "to the restaurant"),
    Place("办公室", "at the office", "to the office"),
    Place("医院", "at the hospital", "to the hospital"),
    Place("花园", "in the garden", "to the garden"),
    Place("北京", "in Beijing", "to Beijing"),
    Place("上海", "in Shanghai", "to Shanghai"),
    Place("伦敦", "in London", "to London"),
    Place("河里", "in the river", None),
    Place("游泳池", "in the pool", "to the pool"),
]}
DESTINATIONS = [p for p in PLACES.values() if p.to is not None]

LOCATIONS: dict[str, Location] = {loc.zh: loc for loc in [
    Location("桌子上", "on the table",
             tuple("书 笔 杯子 钥匙 包 手表 帽子 盒子 苹果 香蕉 橙子 蛋糕 猫 电脑 刀 花".split())),
    Location("房间里", "in the room", tuple("猫 狗 老鼠 椅子 桌子 电脑 盒子 孩子".split())),
    Location("盒子里", "in the box", tuple("笔 钥匙 手表 蛋糕 鸡蛋 猫 老鼠 兔子 苹果".split())),
    Location("公园里", "in the park", tuple("狗 鸟 兔子 树 花 孩子".split())),
    Location("冰箱里", "in the fridge",
             tuple("苹果 鸡蛋 橙子 蛋糕 西瓜 牛奶 水 果汁 面包 米饭".split())),
    Location("杯子里", "in the cup", tuple("水 茶 咖啡 牛奶 果汁".split())),
    Location("河里", "in the river", tuple("鱼 船".split())),
    Location("树上", "in the tree", ("鸟",)),
    Location("花园里", "in the garden", tuple("花 树 兔子 鸟 狗 猫".split())),
]}

TIMES: dict[str, TimeWord] = {t.zh: t for t in [
    TimeWord("昨天", "yesterday", PAST), TimeWord("昨天晚上", "last night", PAST),
    TimeWord("上周", "last week", PAST), TimeWord("去年", "last year", PAST),
    TimeWord("明天", "tomorrow", FUTURE), TimeWord("明天早上", "tomorrow morning", FUTURE),
    TimeWord("下周", "next week", FUTURE), TimeWord("明年", "next year", FUTURE),
    TimeWord("每天", "every day", PRESENT), TimeWord("每天早上", "every morning", PRESENT),
    TimeWord("每个周末", "every weekend", PRESENT),
    TimeWord("今天", "today", PRESENT), TimeWord("现在", "now", PRESENT),
]}
PAST_TIMES = [TIMES[t] for t in ("昨天", "昨天晚上", "上周", "去年")]
FUTURE_TIMES = [TIMES[t] for t in ("明天", "明天早上", "下周", "明年")]
# "She slept last year" or "Lucy will have a house tomorrow" read oddly: each verb says which
# time scale fits it (Verb.time_scale).
_SCALE_TIMES = {
    "days": {"昨天", "昨天晚上", "上周", "明天", "明天早上", "下周"},
    "years": {"上周", "去年", "下周", "明年"},
    "any": set(TIMES),
}
HABITUAL_TIMES = [TIMES[t] for t in ("每天", "每天早上", "每个周末")]
STATE_TIMES = {  # time words that go with how someone feels
    PRESENT: [TIMES["今天"], TIMES["现在"]],
    PAST: [TIMES["昨天"], TIMES["昨天晚上"], TIMES["上周"]],
    FUTURE: [TIMES["明天"], TIMES["下周"]],
}

NUMBERS: dict[str, Number] = {n.zh: n for n in [
    Number("一", "a", 1), Number("两", "two", 2), Number("三", "three", 3),
    Number("四", "four", 4), Number("五", "five", 5), Number("六", "six", 6),
    Number("十", "ten", 10),
]}


def _verb(zh, forms, objects="", places="", **options):
    base, third, past = forms.split("/")
    return Verb(zh, base, third, past, frozenset(objects.split()), places=tuple(places.split()),
                **options)


VERBS: dict[str, Verb] = {v.zh: v for v in [
    # transitive
    _verb("吃", "eat/eats/ate", "food", "家 餐厅 学校 公园"),
    _verb("喝", "drink/drinks/drank", "drink", "家 餐厅 办公室"),
    _verb("买", "buy/buys/bought", "food drink thing pet house", "商店 北京 上海 伦敦",
          time_scale="any"),
    _verb("卖", "sell/sells/sold", "food thing pet house", "商店 北京 上海",
          time_scale="any"),
    _verb("有", "have/has/had", "food drink thing pet house people",
          tenses=(PRESENT, FUTURE), habitual=False, present_negator="没",
          time_scale="years"),
    _verb("喜欢", "like/likes/liked",
          "food drink animal plant nice movie subject people person",
          generic=True, tenses=(PRESENT,), habitual=False),
    _verb("爱", "love/loves/loved", "pet people person", generic=True, tenses=(PRESENT,),
          habitual=False),
    _verb("认识", "know/knows/knew", "person", tenses=(PRESENT,), habitual=False),
    _verb("建造", "build/builds/built", "structure", "北京 上海 伦敦", creates=True,
          time_scale="any"),
    _verb("画", "draw/draws/drew", "animal plant house car", "家 学校 公园 花园"),
    _verb("见", "see/sees/saw", "person people", "公园 学校 商店 图书馆 医院 餐厅 北京 上海 伦敦"),
    _verb("帮助", "help/helps/helped", "person people", "家 学校 办公室 医院"),
    _verb("等", "wait for/waits for/waited for", "person", "公园 学校 商店 图书馆 餐厅",
          tenses=(PAST, FUTURE)),
    _verb("读", "read/reads/read", "readable", "图书馆 家 公园 学校", time_scale="any"),
    _verb("写", "write/writes/wrote", "writable", "家 办公室 图书馆", creates=True,
          time_scale="any"),
    _verb("看", "watch/watches/watched", "movie", "家"),
    _verb("学习", "study/studies/studied", "subject", "图书馆 学校 家 北京 伦敦",
          object_optional=True, companion=True, time_scale="any"),
    _verb("教", "teach/teaches/taught", "subject", "学校 北京 上海", recipient=True,
          time_scale="any"),
    _verb("做", "make/makes/made", "baked", "家 餐厅", creates=True),
    _verb("找", "look for/looks for/looked for", "person belonging pet", "家 公园 学校 办公室",
          tenses=(PAST, FUTURE), quantities=False),
    _verb("丢", "lose/loses/lost", "belonging", "公园 学校 商店 图书馆", tenses=(PAST,),
          quantities=False),
    _verb("找到", "find/finds/found", "belonging pet", "家 公园 办公室", tenses=(PAST, FUTURE),
          quantities=False),
    _verb("骑", "ride/rides/rode", "rideable", "公园", quantities=False),
    _verb("开", "drive/drives/drove", "car", "北京 上海", quantities=False),
    _verb("喂", "feed/feeds/fed", "pet", "家 公园 花园", quantities=False),
    # intransitive
    _verb("跑步", "run/runs/ran", "", "公园 学校 花园", companion=True),
    _verb("游泳", "swim/swims/swam", "", "河里 游泳池", companion=True),
    _verb("唱歌", "sing/sings/sang", "", "家 学校 公园", companion=True),
    _verb("跳舞", "dance/dances/danced", "", "家 学校 公园", companion=True),
    _verb("工作", "work/works/worked", "", "办公室 医院 学校 商店 餐厅 图书馆 北京 上海 伦敦",
          companion=True, time_scale="any"),
    _verb("睡觉", "sleep/sleeps/slept", "", "家"),
    _verb("散步", "take a walk/takes a walk/took a walk", "", "公园 花园", companion=True),
    _verb("玩", "play/plays/played", "", "公园 花园 家 学校", companion=True),
    _verb("回家", "go home/goes home/went home", "", companion=True),
    # motion: 去 + place
    _verb("去", "go/goes/went", "", destination=True, companion=True, time_scale="any"),
]}

# Capitalised English words other than the first word of a sentence and "I"; the English
# detokenizer (tinytransformer.text) uses this to restore their case after lower-casing.
ENGLISH_PROPER_NOUNS: frozenset[str] = frozenset(
    [en for en, _ in NAMES.values()]
    + [NOUNS[s].singular for s in ("中文", "英语")]
    + ["Beijing", "Shanghai", "London"]
)


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

    zh = []
    if time and time_first:
        zh.append(time.zh)
    zh.append(subj.zh)
    if time and not time_first:
        zh.append(time.zh)
    if tense == FUTURE:
        zh.append(("不会" if with_hui else "不") if negative else ("会" if with_hui else ""))
    elif negative:
        zh.append("没" if tense == PAST else verb.present_negator)
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

    zh = []
    if time and time_first:
        zh.append(time.zh)
    zh.append(subj.zh)
    if time and not time_first:
        zh.append(time.zh)
    if tense == FUTURE:
        zh.append(("不会" if with_hui else "不") if negative else ("会" if with_hui else ""))
    elif negative:
        zh.append("不")
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
    fitting = _SCALE_TIMES[verb.time_scale]
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
