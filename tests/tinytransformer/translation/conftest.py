"""Fixtures for the translation tests: small data files, and child processes that
always end (see translation_processes.py)."""
import pytest

from translation_processes import Children, run_python as _run_python


@pytest.fixture
def spawn():
    """spawn(args, **popen_kwargs) -> Popen of `python args...` in the repository root;
    every process it started is killed and reaped when the test ends, pass or fail."""
    children = Children()
    try:
        yield children.start
    finally:
        children.close()


@pytest.fixture
def run_python():
    """run_python(args, timeout=300, **kwargs): subprocess.run of `python args...` in the
    repository root, with the same care (killed at the timeout)."""
    return _run_python


@pytest.fixture(scope="session")
def tiny_tsv(tmp_path_factory):
    """(train.tsv, dev.tsv): 300 and 20 pairs of the built-in corpus in the Tatoeba format."""
    from tinytransformer.translation import builtin_splits
    splits = builtin_splits(0)
    folder = tmp_path_factory.mktemp("tsv")
    paths = []
    for name, pairs in (("train.tsv", splits["train"][:300]), ("dev.tsv", splits["dev"][:20])):
        path = folder / name
        path.write_text("".join(f"{en}\t{zh}\n" for zh, en in pairs), encoding="utf-8")
        paths.append(path)
    return tuple(paths)
