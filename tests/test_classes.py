import json

import pytest

from videoattr.data.classes import load_class_aliases, load_class_list, resolve_label
from videoattr.errors import VideoAttrError


def test_json_list_and_dict(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(["abseiling", "air drumming", "ironing"]))
    (tmp_path / "dict.json").write_text(json.dumps({"ironing": 2, "abseiling": 0, "air drumming": 1}))
    assert load_class_list(str(tmp_path / "list.json")) == ["abseiling", "air drumming", "ironing"]
    assert load_class_list(str(tmp_path / "dict.json")) == ["abseiling", "air drumming", "ironing"]


def test_epic_csv_is_ordered_by_id(tmp_path):
    (tmp_path / "verbs.csv").write_text(
        "verb_id,class_key,verbs\n2,open,\"['open']\"\n0,take,\"['take', 'grab']\"\n1,put,\"['put']\"\n"
    )
    assert load_class_list(str(tmp_path / "verbs.csv")) == ["take", "put", "open"]
    aliases = load_class_aliases(str(tmp_path / "verbs.csv"))
    assert aliases == {"open": "open", "take": "take", "grab": "take", "put": "put"}
    assert resolve_label("grab", ["take", "put", "open"], aliases=aliases) == ("take", 0)
    assert load_class_aliases("torchvision:R2Plus1D_18_Weights.KINETICS400_V1") == {}


def test_text_file_skips_blank_lines(tmp_path):
    (tmp_path / "classes.txt").write_text("cat\n\ndog\n  bird \n")
    assert load_class_list(str(tmp_path / "classes.txt")) == ["cat", "dog", "bird"]


def test_torchvision_categories():
    names = load_class_list("torchvision:R2Plus1D_18_Weights.KINETICS400_V1")
    assert len(names) == 400 and names[0] == "abseiling"


@pytest.mark.parametrize("source", ["missing.json", "torchvision:NoSuchWeights.DEFAULT"])
def test_bad_sources(tmp_path, source):
    path = source if source.startswith("torchvision") else str(tmp_path / source)
    with pytest.raises(VideoAttrError):
        load_class_list(path)


CLASSES = ["abseiling", "ironing", "playing guitar", "playing bass guitar"]


@pytest.mark.parametrize(
    "label, expected",
    [
        ("ironing", ("ironing", 1)),
        ("playing guitar", ("playing guitar", 2)),
        ("Playing_Bass_Guitar", ("playing bass guitar", 3)),
        ("0", ("abseiling", 0)),
        ("", ("", -1)),
    ],
)
def test_resolve_label_with_classes(label, expected):
    assert resolve_label(label, CLASSES) == expected


def test_unknown_label_names_close_classes():
    with pytest.raises(VideoAttrError, match=r"'playing guitr'.*'playing guitar'.*label_file") as err:
        resolve_label("playing guitr", CLASSES, clip="playing guitr-abc.mp4")
    assert "playing guitr-abc.mp4" in str(err.value)


def test_labels_must_be_indices_without_classes():
    assert resolve_label("7", None) == ("7", 7)
    with pytest.raises(VideoAttrError, match="no class list"):
        resolve_label("ironing", None, clip="ironing-a")
