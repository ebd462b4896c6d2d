"""Tests of the tokenizers (tinytransformer.translation.tokenizers)."""

import pytest

from tinytransformer.translation import ENGLISH_PROPER_NOUNS, generate_corpus
from tinytransformer.translation.tokenizers import (
    detokenize, detokenize_en, find_proper_nouns, tokenize, tokenize_en, tokenize_zh,
)


# ------------------------------------------------------------------------------ tokenizers

def test_tokenize_zh():
    assert tokenize_zh("我昨天在公园见了他。") == list("我昨天在公园见了他。")
    assert tokenize_zh("我有3个 iPad，你呢？") == ["我", "有", "3", "个", "iPad", "，", "你", "呢", "？"]
    assert tokenize_zh("  我 爱 GPU2024!") == ["我", "爱", "GPU2024", "!"]
    assert tokenize_zh("") == []


def test_tokenize_en():
    assert tokenize_en("I saw him in the park yesterday.") == \
        ["i", "saw", "him", "in", "the", "park", "yesterday", "."]
    assert tokenize_en("Don't go, Mary's cat!") == ["don't", "go", ",", "mary's", "cat", "!"]
    assert tokenize_en("It\u2019s 10 o'clock?") == ["it's", "10", "o'clock", "?"]


def test_detokenize_en():
    assert detokenize_en(["do", "you", "like", "cats", "?"]) == "Do you like cats?"
    assert detokenize_en(["i", "don't", "know", ",", "mary", "."]) == "I don't know, mary."
    assert detokenize_en(["i", "don't", "know", ",", "mary", "."], ["Mary"]) == "I don't know, Mary."
    assert detokenize_en(["steve's", "car", "is", "new", ".", "it", "is", "red", "."],
                         proper_nouns=ENGLISH_PROPER_NOUNS) == "Steve's car is new. It is red."
    assert detokenize_en(["a", "well", "-", "known", "fact"]) == "A well-known fact"
    assert detokenize_en(["bob", "is", "here"], proper_nouns=["Bob"]) == "Bob is here"
    assert detokenize_en([]) == ""


def test_english_round_trip_on_the_whole_corpus():
    for _, en in generate_corpus(0):
        assert detokenize_en(tokenize_en(en), ENGLISH_PROPER_NOUNS) == en




def test_tokenize_and_detokenize_by_language():
    assert tokenize("我有苹果。", "zh") == ["我", "有", "苹", "果", "。"]
    assert tokenize("Hi, Tom.", "en") == ["hi", ",", "tom", "."]
    assert detokenize(["我", "有"], "zh") == "我有"
    assert detokenize(["hi", ",", "tom", "."], "en", ["Tom"]) == "Hi, Tom."
    with pytest.raises(ValueError, match="unknown language"):
        tokenize("x", "fr")


def test_the_tokenizers_depend_on_no_data_set():
    import ast
    import inspect
    from tinytransformer.translation import tokenizers
    imports = [node for node in ast.walk(ast.parse(inspect.getsource(tokenizers)))
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert all(node.level == 0 for node in imports if isinstance(node, ast.ImportFrom))


def test_find_proper_nouns_keeps_names_the_corpus_capitalises():
    sentences = ["Tom is here.", "I saw Tom's dog.", "Where is Tom?", "Tom likes Mary.", "I love Boston.",
                 "We went to Boston.", "Apples are red. Apples are sweet.", "Red is nice.",
                 "I like red apples."]
    # Tom and Boston, capitalised mid-sentence twice or more; Mary once; "Apples" only after a
    # full stop; "I" never counts.
    assert find_proper_nouns(sentences) == ["Boston", "Tom"]
    assert find_proper_nouns(sentences, min_count=1) == ["Boston", "Mary", "Tom"]
    found = find_proper_nouns(en for _, en in generate_corpus(0))
    assert set(found) <= ENGLISH_PROPER_NOUNS and len(found) >= len(ENGLISH_PROPER_NOUNS) - 3
