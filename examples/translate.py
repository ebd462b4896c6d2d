"""Translate with a trained checkpoint.

    python examples/translate.py --checkpoint runs/translate/best.npz "我有苹果。" "好久不见。"
    echo "他们认识我们。" | python examples/translate.py --checkpoint runs/translate/best.npz
    python examples/translate.py --checkpoint runs/translate/best.npz      # interactive prompt
"""
import argparse
import sys

from tinytransformer.translation import Translator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sentences", nargs="*", help="sentences to translate (else stdin or a prompt)")
    parser.add_argument("--checkpoint", required=True, help="a .npz written by train_translate.py")
    parser.add_argument("--beam", type=int, default=1, help="beam size (1: greedy)")
    parser.add_argument("--device", default=None, help="cpu or cuda")
    args = parser.parse_args(argv)
    try:
        translator, _ = Translator.load(args.checkpoint, args.device)
    except (OSError, ValueError) as error:
        sys.exit(f"translate.py: {error}")

    if args.sentences:
        for text in args.sentences:
            print(translator.translate(text, beam_size=args.beam))
    elif not sys.stdin.isatty():
        lines = [line.strip() for line in sys.stdin if line.strip()]
        for translation in translator.translate(lines, beam_size=args.beam):
            print(translation)
    else:
        print(f"{translator.src_lang} -> {translator.tgt_lang}; an empty line or Ctrl-D quits")
        while True:
            try:
                text = input("> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                break
            if not text:
                break
            print(translator.translate(text, beam_size=args.beam))
    return 0


if __name__ == "__main__":
    sys.exit(main())
