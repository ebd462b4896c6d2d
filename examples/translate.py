"""Translate with a trained checkpoint.

    python examples/translate.py --checkpoint runs/translate/best.npz "我有苹果。" "好久不见。"
    python examples/translate.py --checkpoint runs/translate/best.npz < input.txt > output.txt
    python examples/translate.py --checkpoint runs/translate/best.npz      # interactive prompt
    python examples/translate.py --checkpoint runs/translate/best.npz --test test.tsv

Exactly one output line per input line, in order (a blank line gives a blank
line). Input is read and translated in batches, so a long file streams and a
line that fails costs only its own output line (left blank, with a message on
stderr). A sentence too long for the model is translated in pieces, with a
warning on stderr. Problems are reported as one line on stderr, never as a
traceback: exit status 1 for a bad checkpoint or option, 130 on Ctrl-C.

--test FILE scores the checkpoint on a file of sentence pairs in the Tatoeba
format (English<TAB>Chinese[<TAB>attribution] per line; the checkpoint says
which side is the source): corpus BLEU and chrF of greedy and of beam-search
translations (--beam, 4 unless given), each with its sacreBLEU signature, then
the first 10 translations beside their references. Nothing is trained.
"""
import argparse
import io
import sys
import warnings

from tinytransformer.translation import (Translator, format_samples, read_tsv,
                                         score_translations)
from tinytransformer.utils.checkpoint import CheckpointError

PROGRAM = "translate.py"


def warn(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def translate_batch(translator, numbered_lines, beam):
    """Translations of [(line number, text)], in order; blank lines stay blank.
    If the batch fails, each line is tried alone, so a bad line costs only itself."""
    texts = [text.strip() for _, text in numbered_lines]
    filled = [i for i, text in enumerate(texts) if text]
    out = [""] * len(texts)

    def on_long(index, n_tokens, n_pieces, number=None):
        number = number if number is not None else numbered_lines[filled[index]][0]
        warn(f"line {number}: {n_tokens} tokens, more than the model's "
             f"{translator.max_source_tokens}; translated in {n_pieces} pieces")

    try:
        for i, translation in zip(filled, translator.translate([texts[i] for i in filled], beam,
                                                               on_long=on_long)):
            out[i] = translation
    except Exception:                                  # noqa: BLE001 - retried line by line
        for i in filled:
            number = numbered_lines[i][0]
            try:
                out[i] = translator.translate(
                    texts[i], beam, on_long=lambda _, n, k, number=number: on_long(0, n, k, number))
            except Exception as error:                 # noqa: BLE001 - reported, line left blank
                warn(f"line {number}: not translated ({type(error).__name__}: {error})")
                out[i] = ""
    return out


def translate_stream(translator, lines, beam, batch_size):
    batch = []
    for number, line in enumerate(lines, start=1):
        batch.append((number, line.rstrip("\r\n")))
        if len(batch) == batch_size:
            print("\n".join(translate_batch(translator, batch, beam)), flush=True)
            batch = []
    if batch:
        print("\n".join(translate_batch(translator, batch, beam)), flush=True)


def interactive(translator, beam):
    print(f"{translator.src_lang} -> {translator.tgt_lang}; an empty line or Ctrl-D quits")
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            print()
            return
        if not text:
            return
        print(translate_batch(translator, [(1, text)], beam)[0])


def read_test_pairs(path, translator):
    """(sources, references) of a Tatoeba-format file, in the checkpoint's direction.
    read_tsv's warning about skipped lines becomes one line on stderr, like the errors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = read_tsv(path, translator.src_lang, translator.tgt_lang)
    for warning in caught:
        warn(f"warning: {warning.message}")
    if not pairs:
        raise ValueError(f"--test {path} holds no sentence pairs "
                         "(expected UTF-8 lines English<TAB>Chinese)")
    return [source for source, _ in pairs], [reference for _, reference in pairs]


def score_test_file(translator, path, beam, batch_size, n_samples=10):
    """BLEU and chrF of the translations of a test file, greedy and (if beam > 1) with
    beam search, as the field reports them: on detokenized text, with signatures.
    The exit status: 1 if the file cannot be read or holds no pairs, else 0."""
    try:
        sources, references = read_test_pairs(path, translator)
    except OSError as error:                  # missing, a folder, not readable
        warn(f"--test {path}: {error.strerror or error}")
        return 1
    except ValueError as error:               # no sentence pairs in it
        warn(str(error))
        return 1
    print(f"{path}: {len(sources)} sentence pairs, {translator.src_lang} -> {translator.tgt_lang}",
          flush=True)
    long_sentences = set()                    # counted, not reported one by one

    def on_long(index, n_tokens, n_pieces):
        long_sentences.add(index)

    translations = {}
    for beam_size in ([1, beam] if beam > 1 else [1]):
        name = "greedy" if beam_size == 1 else f"beam {beam_size}"
        translations[name] = translator.translate(sources, beam_size, batch_size=batch_size,
                                                  on_long=on_long)
        scores = score_translations(translations[name], references, translator.tgt_lang)
        print(f"\n{name}:\n{scores}", flush=True)
    if long_sentences:
        warn(f"{len(long_sentences)} sentence(s) longer than the model's "
             f"{translator.max_source_tokens} tokens were translated in pieces")
    name = list(translations)[-1]             # the beam search's, if there was one
    shown = min(n_samples, len(sources))
    print(f"\nthe first {shown} translations ({name}) and their references:")
    print(format_samples(sources, translations[name], references, limit=n_samples), flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sentences", nargs="*", help="sentences to translate (else stdin or a prompt)")
    parser.add_argument("--checkpoint", required=True, help="a .npz written by train_translate.py")
    parser.add_argument("--beam", type=int, default=None,
                        help="beam size (1: greedy); default 1, with --test 4")
    parser.add_argument("--batch-size", type=int, default=32, help="lines translated together")
    parser.add_argument("--device", default=None, help="cpu or cuda")
    parser.add_argument("--test", metavar="FILE", default=None,
                        help="score the checkpoint on this Tatoeba-format TSV (BLEU, chrF)")
    args = parser.parse_args(argv)
    if args.beam is None:
        args.beam = 4 if args.test else 1
    if args.test and args.sentences:
        warn("--test scores a file; give it no sentences to translate")
        return 1
    if args.beam < 1 or args.batch_size < 1:
        warn(f"--beam and --batch-size must be at least 1, got {args.beam} and {args.batch_size}")
        return 1
    try:
        translator, _ = Translator.load(args.checkpoint, args.device)
    except (CheckpointError, OSError, ValueError, RuntimeError) as error:
        warn(str(error).replace("\n", " "))
        return 1

    try:
        if args.test:
            return score_test_file(translator, args.test, args.beam, args.batch_size)
        elif args.sentences:
            translate_stream(translator, args.sentences, args.beam, args.batch_size)
        elif not sys.stdin.isatty():
            stdin = sys.stdin
            if hasattr(stdin, "buffer"):    # a stray byte that is not UTF-8 costs one character
                stdin = io.TextIOWrapper(stdin.buffer, encoding="utf-8-sig", errors="replace")
            translate_stream(translator, stdin, args.beam, args.batch_size)
        else:
            interactive(translator, args.beam)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:                    # the reader went away (| head): not an error
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
