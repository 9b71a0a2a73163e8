import hashlib
import os
import urllib.error

import pytest
import torch


def test_vocab_round_trip_and_unknown_characters(nb):
    v = nb.Vocab.from_text("To be, or not to be")
    assert v.decode(v.encode("be or not")) == "be or not"
    with pytest.raises(ValueError, match=r"characters not in the vocabulary: \['!', 'Z', 'a'\]"):
        v.encode("Zebra!")


def test_missing_custom_corpus(nb, tmp_path):
    with pytest.raises(FileNotFoundError, match="point data_path at a UTF-8 text file"):
        nb.load_text(str(tmp_path / "mine.txt"))


def test_short_and_non_utf8_corpus(nb, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("tiny")
    with pytest.raises(ValueError, match="has 4 characters; the notebook needs at least 1000"):
        nb.load_text(str(short))
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00" * 1000)
    with pytest.raises(ValueError, match="is not UTF-8 text"):
        nb.load_text(str(binary))


def test_offline_download_is_a_clear_error_and_writes_nothing(nb, tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(nb.urllib.request, "urlopen", offline)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="copy Tiny Shakespeare to data/input.txt by hand"):
        nb.load_text("data/input.txt")
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_download_with_wrong_md5_writes_nothing(nb, tmp_path, monkeypatch):
    class Response:
        def __enter__(self): return self
        def __exit__(self, *a): return False
        def read(self): return b"not shakespeare" * 100
    monkeypatch.setattr(nb.urllib.request, "urlopen", lambda *a, **k: Response())
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="expected 6fb458f1232090904fb40fe944165e91; nothing was written"):
        nb.load_text("data/input.txt")
    assert not os.path.exists("data/input.txt")


def test_download_success_path(nb, tmp_path, monkeypatch):
    blob = ("First Citizen:\nBefore we proceed any further, hear me speak.\n" * 40).encode()
    class Response:
        def __enter__(self): return self
        def __exit__(self, *a): return False
        def read(self): return blob
    monkeypatch.setattr(nb.urllib.request, "urlopen", lambda *a, **k: Response())
    monkeypatch.chdir(tmp_path)
    nb.download_shakespeare("data/input.txt", md5=hashlib.md5(blob).hexdigest())
    assert open("data/input.txt", "rb").read() == blob


def test_shared_corpus_is_tiny_shakespeare():
    path = os.path.join(os.path.dirname(__file__), "..", "data", "input.txt")
    if not os.path.exists(path):
        pytest.skip("data/input.txt is not there (the notebook downloads it)")
    assert hashlib.md5(open(path, "rb").read()).hexdigest() == "6fb458f1232090904fb40fe944165e91"


def test_get_batch(nb):
    data = torch.arange(100)
    x = nb.get_batch(data, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == (5, 8)
    assert ((x[:, 1:] - x[:, :-1]) == 1).all()             # contiguous windows
