"""Host-side data helpers shared by the applications: the vocabulary and padding."""
from .vocab import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocab
from .padding import pad_sequences
