"""Where the shared corpus of third-party model files and their players' outputs lies
(`../shared/corpus` beside the checkout, or $TUBELESS_SHARED/corpus): the benchmarks and the
tests play it when it is there and do without it otherwise."""
import os

import firmware

REPO = os.path.dirname(os.path.dirname(os.path.abspath(firmware.__file__)))


def corpus_dir():
    """The corpus folder (with its nam/ models), or None."""
    for d in (os.environ.get("TUBELESS_SHARED"), os.path.join(REPO, "..", "shared")):
        if d and os.path.isdir(os.path.join(d, "corpus", "nam")):
            return os.path.join(os.path.abspath(d), "corpus")
    return None


def corpus_file(*parts):
    """A file of the corpus (e.g. "audio", "nam_core_input.wav"), or None."""
    d = corpus_dir()
    path = os.path.join(d, *parts) if d else None
    return path if path and os.path.isfile(path) else None
