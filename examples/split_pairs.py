"""Split a file of sentence pairs in two, grouped by Chinese sentence.

    python examples/split_pairs.py dev.tsv runs/data/dev-half.tsv runs/data/test-half.tsv

Tatoeba often gives one Chinese sentence several English translations; all of
them go to the same half, so a test half never holds a sentence the model was
tuned on. About --fraction of the distinct Chinese sentences (default 0.5) go
to the SECOND file; each half keeps the input's order and its lines verbatim
(attribution column included). The split depends only on --seed and the set
of Chinese sentences. The outputs are written atomically, and a file that
exists already is refused unless --overwrite. Problems are one line on
stderr and exit status 1.
"""
import argparse
import os
import sys

from tinytransformer.translation import train_dev_split
from tinytransformer.utils.checkpoint import atomic_write

PROGRAM = "split_pairs.py"


def split_lines(lines, fraction, seed):
    """(first, second) lists of the pair lines (English<TAB>Chinese[<TAB>...]); about
    `fraction` of the distinct Chinese sentences, with all their lines, go to second.
    The same split as train_dev_split of the (Chinese, line) pairs."""
    keyed = [(line.split("\t")[1].strip(), line) for line in lines if len(line.split("\t")) >= 2]
    first, second = train_dev_split(keyed, fraction, seed)
    return [line for _, line in first], [line for _, line in second]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", help="the file to split (English<TAB>Chinese[<TAB>...] lines)")
    parser.add_argument("first", help="where the rest goes (say, the dev half)")
    parser.add_argument("second", help="where --fraction of the Chinese sentences go (the test half)")
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    if not 0.0 < args.fraction < 1.0:
        return fail(f"--fraction must be between 0 and 1, got {args.fraction}")
    if os.path.abspath(args.first) == os.path.abspath(args.second) or \
            os.path.abspath(args.pairs) in (os.path.abspath(args.first), os.path.abspath(args.second)):
        return fail("the input and the two outputs must be three different files")
    for path in (args.first, args.second):
        if os.path.exists(path) and not args.overwrite:
            return fail(f"{path} exists already: choose another name, or --overwrite")
    try:
        with open(args.pairs, encoding="utf-8-sig") as f:
            lines = [line.rstrip("\r\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as error:
        return fail(f"{args.pairs}: {getattr(error, 'strerror', None) or error}")
    first, second = split_lines(lines, args.fraction, args.seed)
    if not first or not second:
        return fail(f"{args.pairs} has too few pairs to split ({len(first) + len(second)} "
                    "with a Chinese column)")
    try:
        for path, part in ((args.first, first), (args.second, second)):
            if os.path.dirname(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, lambda f, part=part: f.write("".join(line + "\n" for line in part)),
                         mode="w")
    except OSError as error:
        return fail(f"{error.filename or ''}: {error.strerror or error}")
    print(f"{args.pairs}: {len(first)} pairs -> {args.first}, {len(second)} pairs -> {args.second}")
    return 0


def fail(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
