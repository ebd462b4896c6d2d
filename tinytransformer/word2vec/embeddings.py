"""Word2VecEmbeddings: the two tables Word2Vec learns, as a Module (so
parameters(), state_dict() and checkpoints work as for any model)."""
import tinytensor as tt
import tinytensor.nn.functional as F

from ..nn import Module, Parameter, uniform_

__all__ = ["Word2VecEmbeddings"]


class Word2VecEmbeddings(Module):
    """input_vectors (V, d): the word vectors you keep (gensim's wv.vectors);
    output_vectors (V, d): the vectors words are predicted with (gensim's syn1neg).

    They start as in gensim 4: input vectors uniform in [-1, 1) / d (gensim's
    prep_vectors; word2vec.c draws from half that range, which trains CBOW
    worse: 4.1% against 4.6% analogy accuracy on text8-2M), from tinytensor's
    seeded generator, and output vectors zero (random_init=False: both zero, to
    load saved values into). They are made on the CPU, so a seed gives the same
    start on every device; move them with `.to(device)`.

    Calling the module on a batch's word ids gathers the rows the batch uses as
    fresh leaf tensors (copies that require grad): the loss is differentiated
    with respect to those few rows only, and the SGD step writes them back with
    `index_add_`, so no dense (V, d) gradient is ever formed.
    """

    def __init__(self, num_words, vector_size, random_init=True):
        self.num_words, self.vector_size = int(num_words), int(vector_size)
        self.input_vectors = Parameter(tt.zeros(self.num_words, self.vector_size, device="cpu"))
        self.output_vectors = Parameter(tt.zeros(self.num_words, self.vector_size, device="cpu"))
        if random_init:
            bound = 1.0 / self.vector_size
            uniform_(self.input_vectors, -bound, bound)

    def forward(self, positions, centres, noise):
        """(input rows of positions, output rows of centres, output rows of noise),
        each a leaf of shape ids.shape + (d,)."""
        return tuple(F.embedding(ids, table).detach().requires_grad_()
                     for table, ids in ((self.input_vectors, positions),
                                        (self.output_vectors, centres),
                                        (self.output_vectors, noise)))

    def extra_repr(self):
        return f"{self.num_words}, {self.vector_size}"
