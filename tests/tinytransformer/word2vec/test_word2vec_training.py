"""Training Word2Vec: planted structure is learned, reproducibly, the same from a
file or a list, across save/load, in worker processes and on the GPU."""
import dataclasses
import math
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import tinytensor as tt
from tinytransformer.nn import Module, Parameter, evaluating, uniform_
from tinytransformer.utils.checkpoint import save_checkpoint
from tinytransformer.word2vec import Word2Vec, Word2VecConfig, Word2VecEmbeddings

needs_cuda = pytest.mark.skipif(not tt.cuda_is_available(), reason="CUDA is not available")


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------
ANIMALS = "cat dog horse cow sheep goat pig duck mouse lion".split()
COLOURS = "red blue green yellow purple orange pink brown black white".split()


def topic_corpus(sentences=300, length=8, seed=0):
    """Sentences that each use the words of one topic only."""
    rng = np.random.default_rng(seed)
    corpus = []
    for k in range(sentences):
        topic = ANIMALS if k % 2 else COLOURS
        corpus.append([topic[j] for j in rng.integers(0, len(topic), length)])
    return corpus


def mean_similarity(kv, group_a, group_b):
    sims = [kv.similarity(a, b) for a in group_a for b in group_b if a != b]
    return float(np.mean(sims))


@pytest.mark.parametrize("sg", [0, 1])
def test_planted_topics_are_learned(sg):
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0, sg=sg,
                     epochs=8, alpha=0.05, batch_size=200, seed=1, progress=False)
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    across = mean_similarity(kv, ANIMALS, COLOURS)
    assert within > across + 0.15, (within, across)
    for word in ("cat", "red"):
        topic = ANIMALS if word in ANIMALS else COLOURS
        assert all(w in topic for w, _ in kv.most_similar(word, topn=5))
    assert kv.doesnt_match(["cat", "dog", "cow", "blue"]) == "blue"
    assert kv.doesnt_match(["red", "pink", "lion", "black"]) == "lion"
    assert model.epoch_losses[-1] < model.epoch_losses[0]



def test_epoch_loss_is_the_mean_loss_per_example():
    # With a vanishing learning rate the vectors stay at their start, where every output
    # vector is zero, so every score is 0 and each term costs log 2: an example costs
    # (1 + K) log 2, less the rare noise words equal to the centre word (left out).
    corpus = [[f"w{i}" for i in np.random.default_rng(k).integers(0, 300, 12)] for k in range(200)]
    for sg in (0, 1):
        model = Word2Vec(corpus, min_count=1, sample=0, sg=sg, alpha=1e-12, min_alpha=0,
                         epochs=2, negative=5, progress=False)
        assert model.epoch_losses == pytest.approx([6 * math.log(2)] * 2, rel=0.01)


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_training_is_reproducible_and_prints_progress(capsys, monkeypatch, with_tqdm):
    if with_tqdm:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)      # Progress prints plain lines
    corpus = topic_corpus(100)
    runs = [Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=5, progress=True)
            for _ in range(2)]
    assert_array_equal(runs[0].wv.vectors, runs[1].wv.vectors)
    err = capsys.readouterr().err
    # one bar per epoch (tinytransformer.utils.Progress), in words, the loss as its postfix
    assert "epoch 1/2" in err and "epoch 2/2" in err and "word/s" in err
    assert f"loss={runs[0].epoch_losses[-1]:.4f}" in err
    other = Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=6, progress=False)
    assert not np.array_equal(other.wv.vectors, runs[0].wv.vectors)
    assert capsys.readouterr().err == ""                     # progress=False is silent


def test_corpus_file_and_sentences_train_the_same(tmp_path):
    corpus = topic_corpus(120)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in corpus) + "\n")
    kwargs = dict(vector_size=8, min_count=1, epochs=2, seed=3, progress=False)
    from_file = Word2Vec(corpus_file=str(path), **kwargs)
    from_list = Word2Vec(corpus, **kwargs)
    assert from_file.vocab.itos == from_list.vocab.itos
    assert_array_equal(from_file.wv.vectors, from_list.wv.vectors)


def test_save_load_and_continue_training(tmp_path):
    corpus = topic_corpus(150)
    model = Word2Vec(corpus, vector_size=8, min_count=1, epochs=2, seed=2, progress=False)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = Word2Vec.load(path, progress=False)
    assert loaded.vocab == model.vocab
    assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    assert loaded.vocab.counts.tolist() == model.vocab.counts.tolist()
    assert loaded.vocab.total == model.vocab.total
    assert_array_equal(loaded.model.output_vectors.numpy(), model.model.output_vectors.numpy())
    assert loaded.config == model.config and isinstance(loaded.config, Word2VecConfig)
    assert (loaded.sg, loaded.window, loaded.epochs_trained) == (model.sg, model.window, 2)
    # continuing from the file is the same as continuing the model in memory
    model.train(corpus, epochs=1)
    loaded.train(corpus, epochs=1)
    assert loaded.epochs_trained == 3 and len(loaded.epoch_losses) == 3
    assert_array_equal(loaded.wv.vectors, model.wv.vectors)
    with pytest.raises(ValueError, match="not of a Word2Vec"):
        save_checkpoint(tmp_path / "other.npz", None, config={"model": "Transformer"})
        Word2Vec.load(tmp_path / "other.npz")


def test_worker_processes_update_the_shared_vectors():
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                     epochs=6, batch_size=100, workers=2, seed=1, progress=False)
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    assert within > mean_similarity(kv, ANIMALS, COLOURS) + 0.15
    assert len(model.epoch_losses) == 6 and model.epoch_losses[-1] < model.epoch_losses[0]


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(TypeError, match="iterator"):
        Word2Vec(iter([["a", "b"]]), min_count=1)
    with pytest.raises(TypeError, match="list of words"):
        Word2Vec(["a sentence as a string"], min_count=1)
    with pytest.raises(ValueError, match="not both"):
        Word2Vec([["a"]], corpus_file="x.txt")
    with pytest.raises(ValueError, match="min_count"):
        Word2Vec([["a", "b"]], min_count=5, progress=False)
    with pytest.raises(ValueError, match="sg"):
        Word2Vec(sg=2)
    with pytest.raises(ValueError, match="min_count"):
        Word2Vec(min_count=0)
    with pytest.raises(ValueError, match="workers"):
        Word2Vec(workers=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        Word2Vec(vector_dim=10)
    with pytest.raises(RuntimeError, match="build_vocab"):
        Word2Vec().train([["a"]])


@needs_cuda
def test_training_on_the_gpu_matches_the_topics():
    model = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                     epochs=8, batch_size=100, seed=1, device="cuda", progress=False)
    assert model.model.input_vectors.device == "cuda"
    kv = model.wv
    within = (mean_similarity(kv, ANIMALS, ANIMALS) + mean_similarity(kv, COLOURS, COLOURS)) / 2
    assert within > mean_similarity(kv, ANIMALS, COLOURS) + 0.15
    cpu = Word2Vec(topic_corpus(), vector_size=16, window=3, min_count=1, sample=0,
                   epochs=8, batch_size=100, seed=1, device="cpu", progress=False)
    assert_allclose(model.epoch_losses, cpu.epoch_losses, rtol=1e-2)


def test_a_failing_worker_process_is_reported(monkeypatch):
    def broken_step(self, batch, lr):
        raise ValueError("boom in a worker")

    monkeypatch.setattr(Word2Vec, "_step", broken_step)
    model = Word2Vec(vector_size=8, min_count=1, epochs=1, workers=2, progress=False)
    corpus = topic_corpus(400)
    model.build_vocab(corpus)
    with pytest.raises(RuntimeError, match="boom in a worker"):
        model.train(corpus)


def test_the_embeddings_are_a_module_and_word2vec_keeps_gensims_train():
    # Word2Vec used to be a Module whose train() had gensim's meaning, so that
    # Word2Vec(...).eval() raised "TypeError: 'bool' object is not iterable"
    corpus = topic_corpus(60)
    model = Word2Vec(corpus, vector_size=8, min_count=1, epochs=1, progress=False)
    module = model.model
    assert isinstance(module, Word2VecEmbeddings) and isinstance(module, Module)
    assert not isinstance(model, Module) and not hasattr(model, "eval")
    assert module.eval() is module and not module.training
    assert module.train() is module and module.training
    with evaluating(module):
        assert not module.training
    assert module.training
    assert [name for name, _ in module.named_parameters()] == ["input_vectors", "output_vectors"]
    assert module.num_parameters() == 2 * len(model.vocab) * 8
    assert_array_equal(module.state_dict()["input_vectors"], model.wv.vectors)
    # gensim's train: another pass over the corpus
    before = model.wv.vectors
    assert model.train(corpus, epochs=1) is model and model.epochs_trained == 2
    assert not np.array_equal(model.wv.vectors, before)
    assert repr(model).startswith("Word2Vec(CBOW-mean, vocab=20")


def test_initial_vectors_come_from_tinytensors_seeded_generator():
    corpus = topic_corpus(60)
    model = Word2Vec(vector_size=8, min_count=1, seed=7, progress=False).build_vocab(corpus)
    tt.manual_seed(7)
    expected = uniform_(Parameter(tt.zeros(len(model.vocab), 8)), -1 / 8, 1 / 8)
    assert_array_equal(model.model.input_vectors.numpy(), expected.numpy())
    # gensim 4's range, [-1/d, 1/d) (prep_vectors), twice word2vec.c's [-0.5/d, 0.5/d)
    assert 0.5 / 8 < np.abs(expected.numpy()).max() <= 1 / 8
    assert_array_equal(model.model.output_vectors.numpy(), 0)        # as word2vec.c and gensim
    again = Word2Vec(vector_size=8, min_count=1, seed=7, progress=False).build_vocab(corpus)
    assert_array_equal(again.model.input_vectors.numpy(), expected.numpy())


def test_the_settings_are_a_config_dataclass():
    config = Word2VecConfig(vector_size=8, min_count=1, sg=True, batch_size=None)
    assert (config.sg, config.batch_size, config.window) == (1, 2000, 5)   # gensim's defaults
    assert Word2VecConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unexpected keyword argument 'vector_dim'"):
        Word2VecConfig.from_dict({"vector_dim": 3})
    with pytest.raises(ValueError, match="sample"):
        Word2VecConfig(sample=1.5)
    model = Word2Vec(config=config, epochs=2, progress=False)   # keywords replace fields
    assert model.config.epochs == 2 and config.epochs == 5
    assert (model.vector_size, model.sg, model.epochs) == (8, 1, 2)  # gensim's attributes
    with pytest.raises(AttributeError):
        model.window = 3                                          # set them in the config


def test_the_row_cap_follows_the_mode_unless_given_and_the_clip_is_gensims():
    cbow, skipgram = Word2VecConfig(), Word2VecConfig(sg=1)
    assert (cbow.row_cap, cbow.step_cap, skipgram.step_cap) == (None, 3.0, 1.0)
    assert dataclasses.replace(cbow, sg=1).step_cap == 1.0      # follows the mode it ends up in
    assert Word2VecConfig(sg=1, row_cap=2).step_cap == Word2VecConfig(row_cap=2).step_cap == 2.0
    assert Word2VecConfig(row_cap=0).step_cap == 0.0             # 0: no cap
    assert cbow.score_clip == 6.0 and Word2VecConfig(score_clip=None).score_clip is None
    for name, bad in (("score_clip", 0), ("score_clip", float("nan")), ("row_cap", -1)):
        with pytest.raises(ValueError, match=f"Word2Vec: {name} must be"):
            Word2VecConfig(**{name: bad})


def test_a_checkpoint_from_before_the_split_still_loads(tmp_path):
    # then Word2Vec was the Module: its parameters were input_embedding/output_embedding,
    # and its vocabulary was saved as words, counts and total_words
    class OldModel(Module):
        def __init__(self, vectors, outputs):
            self.input_embedding = Parameter(tt.tensor(vectors))
            self.output_embedding = Parameter(tt.tensor(outputs))

    rng = np.random.default_rng(0)
    vectors, outputs = rng.standard_normal((2, 3, 4)).astype(np.float32)
    config = dict(Word2VecConfig(vector_size=4, min_count=1).to_dict(), model="Word2Vec")
    extra = {"words": ["a", "b", "c"], "counts": [3, 2, 1], "total_words": 7,
             "epoch_losses": [2.5], "epochs_trained": 1,
             "rng": np.random.default_rng(1).bit_generator.state}
    path = tmp_path / "old.npz"
    save_checkpoint(path, OldModel(vectors, outputs), config=config, extra=extra)
    model = Word2Vec.load(path, progress=False)
    assert model.vocab.itos == ["a", "b", "c"] and model.vocab.total == 7
    assert_array_equal(model.wv.vectors, vectors)
    assert_array_equal(model.model.output_vectors.numpy(), outputs)
    assert model.epochs_trained == 1 and model.epoch_losses == [2.5]


def test_an_encoded_corpus_kept_between_epochs_trains_as_one_read_every_epoch(monkeypatch):
    """The chunks of epoch 1 are kept for the next epochs (trainer._ChunkCache): the same
    vectors as reading and encoding the corpus again every epoch (CACHED_WORDS = 0)."""
    from tinytransformer.word2vec import trainer
    reads = []

    class CountingCorpus(list):
        def __iter__(self):
            reads.append(1)
            return super().__iter__()
    corpus = CountingCorpus(topic_corpus(120))
    vectors = []
    for limit in (trainer.CACHED_WORDS, 0):
        monkeypatch.setattr(trainer, "CACHED_WORDS", limit)
        reads.clear()
        model = Word2Vec(vector_size=8, min_count=1, epochs=3, seed=3, progress=False)
        model.build_vocab(corpus)
        reads.clear()
        model.train(corpus)
        vectors.append((model.wv.vectors.copy(), len(reads)))
    (kept, kept_reads), (streamed, streamed_reads) = vectors
    # train() calls iter() once to check the corpus is not a one-shot iterator; then the
    # epochs read it: once when kept, three times when streamed
    assert (kept_reads, streamed_reads) == (1 + 1, 1 + 3)
    assert_array_equal(kept, streamed)


DIVERGING = dict(vector_size=16, window=3, min_count=1, sample=0, sg=0, epochs=8, alpha=0.1,
                 batch_size=200, seed=1, progress=False, row_cap=3.0)


@pytest.mark.parametrize("workers", [1, 2])
def test_diverging_vectors_stop_training_with_an_error_that_says_what_to_change(workers):
    """A row cap far above the default on 20 words, where every row meets it in every batch,
    makes CBOW diverge without the score clip; training stops at the first non-finite loss
    instead of going on."""
    if workers > 1 and sys.platform == "win32":
        pytest.skip("workers need fork")
    with pytest.raises((FloatingPointError, RuntimeError),
                       match=r"diverged .*smaller alpha \(0.1\) or row_cap \(3.0\).*"
                             r"score_clip None"):
        Word2Vec(topic_corpus(), score_clip=None, **DIVERGING, workers=workers)


def test_the_score_clip_keeps_those_settings_finite_and_says_they_do_not_learn():
    """With gensim's clip (the default, 6) the same run stays finite, since a term scored
    past 6 sends no gradient; but it does not learn, and says so: the mean loss ends above
    the untrained model's 6 ln 2 (the output vectors start at zero: every score 0)."""
    with pytest.warns(RuntimeWarning, match=r"the last epoch's mean loss .* above the untrained "
                                            r"model's 4.159: .*alpha \(0.1\) or row_cap \(3.0\)"):
        model = Word2Vec(topic_corpus(), **DIVERGING)
    assert model.config.score_clip == 6.0
    assert np.isfinite(model.wv.vectors).all()
    assert model.epoch_losses[-1] > 6 * math.log(2)
