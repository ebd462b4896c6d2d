"""The built-in corpus's lexicon: the data types of its words and the tables of words.

Pronouns, names, roles, nouns (measure words, irregular plurals, semantic tags, fitting
adjectives), verbs (irregular forms, the objects, places and tenses they take), places, times,
numbers, and the set phrases and documentation examples that no grammar rule produces.  This
module is data; :mod:`.grammar` renders sentences from it and :mod:`.sampler` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

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
SCALE_TIMES = {
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

# Capitalised English words other than the first word of a sentence and "I"; the translator
# passes them to the English detokenizer, which restores their case after lower-casing.
ENGLISH_PROPER_NOUNS: frozenset[str] = frozenset(
    [en for en, _ in NAMES.values()]
    + [NOUNS[s].singular for s in ("中文", "英语")]
    + ["Beijing", "Shanghai", "London"]
)
