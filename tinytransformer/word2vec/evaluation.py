"""Evaluating word vectors as gensim does (the same results): analogy questions
(3CosAdd) and the correlation of similarities with human judgements, with the
statistics they need (ranks, Pearson, the p-value of a correlation through the
regularized incomplete beta function), so that neither gensim nor SciPy is needed.

The functions take any object with gensim's KeyedVectors attributes
(index_to_key, vectors, unit_vectors); KeyedVectors calls them as methods.
"""
import math

import numpy as np

__all__ = ["evaluate_word_analogies", "evaluate_word_pairs", "rank", "pearson",
           "correlation_p_value", "betainc"]


def _ok_vocab(kv, restrict_vocab, case_insensitive):
    """Key -> index over the first restrict_vocab words; upper-cased keys map to
    the most frequent spelling (as gensim)."""
    ok = {}
    for i, key in enumerate(kv.index_to_key[:restrict_vocab]):
        ok.setdefault(key.upper() if case_insensitive else key, i)
    return ok


def _read_analogies(path, ok, case_insensitive, dummy4unknown):
    """The sections of an analogy file and its questions whose words are all in `ok`."""
    sections, section, questions = [], None, []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f):
            line = raw.decode("utf-8")
            if line.startswith(": "):
                if section:
                    sections.append(section)
                section = {"section": line.lstrip(": ").strip(), "correct": [], "incorrect": []}
                continue
            if not section:
                raise ValueError(f"Missing section header before line #{line_no} in {path}")
            words = [w.upper() if case_insensitive else w for w in line.split()]
            if len(words) != 4:
                continue
            if any(w not in ok for w in words):
                if dummy4unknown:
                    section["incorrect"].append(tuple(words))
                continue
            questions.append((section, tuple(words)))
    if section:
        sections.append(section)
    return sections, questions


def evaluate_word_analogies(kv, analogies, restrict_vocab=300000, case_insensitive=True,
                            dummy4unknown=False):
    """Accuracy on an analogy file (questions-words.txt format: ": section"
    lines, then "a b c expected" lines), answering each question with
    3CosAdd: the nearest word to b - a + c, the three query words excluded,
    among the first restrict_vocab words. Questions with a word outside
    them are skipped (or, with dummy4unknown, counted wrong).

    Returns (accuracy, sections) exactly as gensim: sections is a list of
    {"section", "correct": [(A, B, C, D)...], "incorrect": [...]}, the last
    one "Total accuracy"."""
    ok = _ok_vocab(kv, restrict_vocab, case_insensitive)
    sections, questions = _read_analogies(analogies, ok, case_insensitive, dummy4unknown)

    # All questions at once: score matrix blocks of (questions, restrict_vocab).
    limit = min(restrict_vocab, len(kv.index_to_key))
    unit, vectors = kv.unit_vectors[:limit], kv.vectors[:limit]
    norms = np.linalg.norm(vectors, axis=1)
    for first in range(0, len(questions), 2048):
        block = questions[first:first + 2048]
        index = np.array([[ok[a], ok[b], ok[c]] for _, (a, b, c, _) in block], dtype=np.int64)
        query = (unit[index[:, 1]] + unit[index[:, 2]] - unit[index[:, 0]]) / np.float32(3)
        query /= np.linalg.norm(query, axis=1, keepdims=True)
        sims = (query @ vectors.T) / norms      # as gensim: (v . q) / |v|
        rows = np.arange(len(block))[:, None]
        sims[rows, index] = -np.inf                 # most_similar leaves the inputs out
        top = np.argpartition(-sims, 5, axis=1)[:, :5] if sims.shape[1] > 5 else \
            np.tile(np.arange(sims.shape[1]), (len(block), 1))
        order = np.argsort(-sims[rows, top], axis=1, kind="stable")
        top = top[rows, order]
        for (sec, (a, b, c, expected)), candidates, inputs in zip(block, top, index):
            index_set = set(inputs.tolist())
            predicted = None
            for i in candidates:
                if i in index_set:
                    continue                        # fewer candidates than 5 left
                key = kv.index_to_key[i]
                predicted = key.upper() if case_insensitive else key
                if predicted in ok and predicted not in (a, b, c):
                    break
            sec["correct" if predicted == expected else "incorrect"].append((a, b, c, expected))
    total = {"section": "Total accuracy",
             "correct": [q for s in sections for q in s["correct"]],
             "incorrect": [q for s in sections for q in s["incorrect"]]}
    sections.append(total)
    answered = len(total["correct"]) + len(total["incorrect"])
    score = len(total["correct"]) / answered if answered else 0.0
    return score, sections


def evaluate_word_pairs(kv, pairs, delimiter="\t", encoding="utf8", restrict_vocab=300000,
                        case_insensitive=True, dummy4unknown=False):
    """Correlation of the cosine similarities with human judgements
    (wordsim353.tsv format: "word1<TAB>word2<TAB>score", "#" comments).

    Returns ((pearson, p-value), (spearman, p-value), oov_ratio in percent),
    as gensim (its pearson and spearman results unpack the same way)."""
    ok = _ok_vocab(kv, restrict_vocab, case_insensitive)
    gold, model, oov = [], [], 0
    with open(pairs, encoding=encoding) as f:
        for line in f:
            if not line or line.startswith("#"):
                continue
            try:
                a, b, sim = [w.upper() if case_insensitive else w for w in line.split(delimiter)]
                sim = float(sim)
            except ValueError:
                continue
            if a not in ok or b not in ok:
                oov += 1
                if dummy4unknown:
                    gold.append(sim)
                    model.append(0.0)
                continue
            gold.append(sim)
            unit = kv.unit_vectors
            model.append(float(unit[ok[a]] @ unit[ok[b]]))
    if not gold:
        raise ValueError(f"No valid similarity judgements found in {pairs}: either invalid "
                         "format or all are out-of-vocabulary")
    gold, model = np.asarray(gold), np.asarray(model, dtype=np.float64)
    r_pearson = pearson(gold, model)
    r_spearman = pearson(rank(gold), rank(model))
    n = len(gold)
    oov_ratio = 100.0 * oov / (n if dummy4unknown else n + oov)
    return (r_pearson, correlation_p_value(r_pearson, n)), \
        (r_spearman, correlation_p_value(r_spearman, n)), oov_ratio


# ----------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------
def rank(values):
    """Ranks 1..n, ties sharing their average rank (scipy.stats.rankdata)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def pearson(x, y):
    """Pearson's correlation coefficient of two 1-D arrays (nan if one is constant)."""
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / denominator if denominator else float("nan")


def correlation_p_value(r, n):
    """Two-sided p-value of a correlation r over n samples (the t-test with n - 2
    degrees of freedom that scipy's pearsonr and spearmanr use)."""
    if n < 3 or not math.isfinite(r):
        return float("nan")
    if abs(r) >= 1:
        return 0.0
    df = n - 2
    return betainc(df / 2, 0.5, df / (df + df * r * r / (1 - r * r)))


def betainc(a, b, x):
    """Regularized incomplete beta function I_x(a, b), by its continued fraction
    (modified Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - betainc(b, a, 1 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a
