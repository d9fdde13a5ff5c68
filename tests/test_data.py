import json
import os

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

import videoattr
from helpers import compose_config
from videoattr.data.datasets import VideoDataset, build_dataset
from videoattr.data.readers import open_clip
from videoattr.data.sampling import sample_indices
from videoattr.data.transforms import denormalize, normalize, preprocess
from videoattr.errors import VideoAttrError
from videoattr.models.spec import ModelSpec
from videoattr.runner import batch_size_of, run_device

CONF = os.path.join(os.path.dirname(__file__), "..", "conf")
MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def tiny_spec(num_frames=4, resize=(32, 32), crop=(32, 32), class_names=None):
    return ModelSpec("tiny", num_frames, resize, crop, MEAN, STD, class_names=class_names)


def dataset_cfg(**keys):
    with initialize_config_dir(config_dir=os.path.abspath(CONF), version_base="1.3"):
        cfg = compose(overrides=["+dataset=videos"]).dataset
    cfg.merge_with(keys)
    return cfg


def frame_levels(frames):
    """Index of each graded frame (grey level 12 i + 8) from its mean value."""
    return ((frames.float().mean(dim=(1, 2, 3)) - 8) / 12).round().long().tolist()


# Sampling ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, num_frames, expected",
    [
        (16, 16, list(range(16))),
        (16, 8, [0, 2, 4, 6, 8, 10, 12, 14]),
        (20, 8, [4, 6, 8, 10, 12, 14, 16, 18]),  # range(0, 20, 2) has 10 values: the last 8 stay
        (35, 8, [4, 8, 12, 16, 20, 24, 28, 32]),
        (17, 16, list(range(1, 17))),
    ],
)
def test_first_sampling_keeps_the_last_strided_indices(length, num_frames, expected):
    assert sample_indices(length, num_frames, "first").tolist() == expected


@pytest.mark.parametrize(
    "length, num_frames, expected",
    [(16, 8, [1, 3, 5, 7, 9, 11, 13, 15]), (35, 8, [6, 10, 14, 18, 22, 26, 30, 34]), (8, 8, list(range(8)))],
)
def test_last_sampling_counts_back_from_the_end(length, num_frames, expected):
    assert sample_indices(length, num_frames, "last").tolist() == expected


def test_random_sampling_draws_one_index_per_segment():
    segments = [(0, 2), (2, 5), (5, 7), (7, 10), (10, 12), (12, 15), (15, 17), (17, 20)]  # floor(i * 20 / 8)
    seen = [set() for _ in segments]
    for seed in range(200):
        indices = sample_indices(20, 8, "random", generator=torch.Generator().manual_seed(seed)).tolist()
        for i, (lo, hi) in zip(indices, segments):
            assert lo <= i < hi
        for s, i in zip(seen, indices):
            s.add(i)
    assert seen == [set(range(lo, hi)) for lo, hi in segments]
    draw = lambda seed: sample_indices(20, 8, "random", generator=torch.Generator().manual_seed(seed)).tolist()
    assert draw(5) == draw(5)


def test_short_clips():
    assert sample_indices(5, 8, "first", "loop").tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert sample_indices(5, 8, "last", "pad").tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    with pytest.raises(VideoAttrError, match=r"Clip clip_a\.mp4 has 5 frames but the model needs 8.*loop.*pad"):
        sample_indices(5, 8, short_clips="error", clip="clip_a.mp4")
    with pytest.raises(VideoAttrError, match="no frames"):
        sample_indices(0, 8, short_clips="loop")


@pytest.mark.parametrize("mode, short", [("middle", "error"), ("first", "crop")])
def test_unknown_sampling_options(mode, short):
    with pytest.raises(VideoAttrError, match="dataset.s"):
        sample_indices(20, 8, mode, short)


# Readers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv", ".webm"])
def test_video_files_read_the_sampled_frames(tmp_path, write_video, make_graded_frames, ext):
    path = write_video(tmp_path / f"clip{ext}", make_graded_frames(20, 32, 64))
    reader = open_clip(path)
    frames = reader.read([0, 7, 19])
    assert len(reader) == 20
    assert frames.dtype == torch.uint8 and frames.shape == (3, 32, 64, 3)
    assert frame_levels(frames) == [0, 7, 19]


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_frame_folders_read_in_name_order(tmp_path, make_graded_frames, ext):
    graded = make_graded_frames(11, 8, 8)
    for i, frame in enumerate(graded, start=1):
        Image.fromarray(frame).save(tmp_path / f"frame_{i}.{ext}")  # frame_10 must come after frame_9
    frames = open_clip(tmp_path).read(range(11))
    assert frame_levels(frames) == list(range(11))
    if ext == "png":
        assert torch.equal(frames, torch.from_numpy(graded))


def test_grayscale_and_rgba_frames_become_rgb(tmp_path, write_frames):
    gray = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6) * 5
    rgba = np.random.default_rng(0).integers(0, 256, (2, 4, 6, 4), dtype=np.uint8)
    with pytest.warns(UserWarning, match="converted to RGB"):
        gray_read = open_clip(write_frames(tmp_path / "gray", gray)).read([0, 1])
    with pytest.warns(UserWarning, match="RGBA.*converted to RGB"):
        rgba_read = open_clip(write_frames(tmp_path / "rgba", rgba)).read([1])
    assert torch.equal(gray_read, torch.from_numpy(np.repeat(gray[..., None], 3, axis=-1)))
    assert torch.equal(rgba_read[0], torch.from_numpy(rgba[1, ..., :3]))


def test_frames_of_different_sizes(tmp_path, write_frames):
    write_frames(tmp_path / "a", np.zeros((2, 8, 8, 3)))
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(tmp_path / "a" / "000003.png")
    with pytest.raises(VideoAttrError, match=r"differ in size.*8x8.*10x8"):
        open_clip(tmp_path / "a")


def test_corrupt_videos_fail_when_read(tmp_path, write_video, make_graded_frames):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    whole = write_video(tmp_path / "whole.mp4", make_graded_frames(20, 32, 64)).read_bytes()
    (tmp_path / "whole.mp4").unlink()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])  # the index (moov) is at the end
    dataset = VideoDataset(tmp_path, tiny_spec())
    # decord's own reason, which it prints from C++, in the message (FFmpeg's "moov atom not found" for the cut)
    reasons = {"cut.mp4": r"moov atom not found; Invalid data found", "noise.mp4": r"Invalid data found"}
    for i, name in enumerate(["cut.mp4", "noise.mp4"]):
        with pytest.raises(VideoAttrError, match=rf"{name} could not be decoded \(.*{reasons[name]}.*\): re-encode it"):
            dataset[i]


# Listing -----------------------------------------------------------------------------------------


def test_listing_errors(tmp_path, write_video, write_frames, make_graded_frames):
    with pytest.raises(VideoAttrError, match="does not exist"):
        VideoDataset(tmp_path / "nowhere", tiny_spec())
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoAttrError, match="holds no videos or frame folders"):
        VideoDataset(tmp_path / "empty", tiny_spec())
    mixed = tmp_path / "mixed"
    write_frames(mixed / "clip_a", make_graded_frames(4))
    write_video(mixed / "clip_b.mp4", make_graded_frames(4, 32, 32))
    with pytest.raises(VideoAttrError, match="mixes video files and frame images"):
        VideoDataset(mixed, tiny_spec())
    write_video(tmp_path / "frames" / "clip_a" / "extra.mp4", make_graded_frames(4, 32, 32))
    write_frames(tmp_path / "frames" / "clip_a", make_graded_frames(4))
    with pytest.raises(VideoAttrError, match="mixes frame images and video files"):
        VideoDataset(tmp_path / "frames", tiny_spec())


def test_root_may_be_one_video_or_one_frame_folder(tmp_path, write_video, write_frames, make_graded_frames):
    video = write_video(tmp_path / "clip_a.mp4", make_graded_frames(8, 32, 32))
    folder = write_frames(tmp_path / "frames" / "clip_b", make_graded_frames(8, 32, 32))
    assert [item["name"] for item in VideoDataset(video, tiny_spec())] == ["clip_a"]
    assert [item["name"] for item in VideoDataset(folder, tiny_spec())] == ["clip_b"]


# Transforms --------------------------------------------------------------------------------------


def test_resize_crop_normalise_by_hand():
    image = np.array([[[0, 100], [200, 40]], [[255, 0], [0, 255]], [[10, 20], [30, 50]]], np.float64)  # 3 x 2 x 2
    frames = torch.from_numpy(image.transpose(1, 2, 0)[None].astype(np.uint8))  # 1 x 2 x 2 x 3
    clip, shown = preprocess(frames, tiny_spec(num_frames=1, resize=(4, 4), crop=(2, 2)))
    # Upsampling 2 -> 4 puts output pixels 1 and 2 (the centre crop) at source coordinates 0.25 and 0.75;
    # uint8 resizing runs a horizontal then a vertical pass, each rounding half up to uint8.
    weights = np.array([[0.75, 0.25], [0.25, 0.75]])
    rows = np.floor(image @ weights.T + 0.5)
    expected = np.floor(weights @ rows + 0.5)  # 3 x 2 x 2
    assert torch.equal(shown[0], torch.from_numpy(expected.transpose(1, 2, 0).astype(np.uint8)))
    normalised = (expected / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    assert clip.shape == (3, 1, 2, 2) and clip.dtype == torch.float32
    torch.testing.assert_close(clip[:, 0], torch.from_numpy(normalised).float())


def test_centre_crop_position_and_denormalize():
    frames = torch.randint(0, 256, (2, 6, 8, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    clip, shown = preprocess(frames, tiny_spec(num_frames=2, resize=(6, 8), crop=(2, 4)))
    assert torch.equal(shown, frames[:, 2:4, 2:6])
    batch = torch.stack([clip, clip])
    torch.testing.assert_close(denormalize(batch, MEAN, STD), torch.stack([shown, shown]).permute(0, 4, 1, 2, 3) / 255)
    torch.testing.assert_close(normalize(shown, MEAN, STD), clip)


# Dataset items -----------------------------------------------------------------------------------


def test_items_follow_the_contract(tmp_path, write_video, make_graded_frames):
    write_video(tmp_path / "ironing-a b.mp4", make_graded_frames(20, 32, 64))
    write_video(tmp_path / "abseiling-x-y.avi", make_graded_frames(12, 32, 32))
    write_video(tmp_path / "unlabelled.mkv", make_graded_frames(8, 32, 32))
    dataset = VideoDataset(tmp_path, tiny_spec(8, resize=(16, 16), crop=(12, 12)), classes=["abseiling", "ironing"])
    items = list(dataset)
    assert [(i["name"], i["label"], i["target"]) for i in items] == [
        ("abseiling-x-y", "abseiling", 0),
        ("ironing-a b", "ironing", 1),
        ("unlabelled", "", -1),
    ]
    ironing = items[1]
    assert ironing["path"] == str(tmp_path / "ironing-a b.mp4")
    assert ironing["clip"].shape == (3, 8, 12, 12) and ironing["clip"].dtype == torch.float32
    assert ironing["frames"].shape == (8, 12, 12, 3) and ironing["frames"].dtype == torch.uint8
    assert ironing["frame_indices"].dtype == torch.int64
    assert ironing["frame_indices"].tolist() == [4, 6, 8, 10, 12, 14, 16, 18]
    assert frame_levels(ironing["frames"]) == [4, 6, 8, 10, 12, 14, 16, 18]


def test_label_files_override_names(tmp_path, write_frames, make_graded_frames):
    for name in ("ironing-a", "ironing-b", "clip3"):
        write_frames(tmp_path / "clips" / name, make_graded_frames(4))
    (tmp_path / "labels.csv").write_text("clip,label\nironing-a,abseiling\nclip3,1\n")
    (tmp_path / "labels.json").write_text(json.dumps({"ironing-b": "abseiling"}))
    classes = ["abseiling", "ironing"]
    from_csv = build_dataset(
        dataset_cfg(root=str(tmp_path / "clips"), label_file=str(tmp_path / "labels.csv")),
        tiny_spec(class_names=classes),
    )
    from_json = VideoDataset(tmp_path / "clips", tiny_spec(), classes, labels={"ironing-b": "abseiling"})
    assert [p.name for p in from_csv.paths] == ["clip3", "ironing-a", "ironing-b"]
    assert from_csv.labels == [("ironing", 1), ("abseiling", 0), ("ironing", 1)]
    assert from_json.labels == [("", -1), ("ironing", 1), ("abseiling", 0)]
    json_cfg = dataset_cfg(root=str(tmp_path / "clips"), label_file=str(tmp_path / "labels.json"))
    assert build_dataset(json_cfg, tiny_spec(class_names=classes)).labels == from_json.labels


def test_unknown_label_and_class_sources(tmp_path, write_frames, make_graded_frames):
    write_frames(tmp_path / "clips" / "ironin-a", make_graded_frames(4))
    write_frames(tmp_path / "clips" / "ironing-b", make_graded_frames(4))
    # A label outside the class list fails its clip only (check_label), not the data set.
    dataset = VideoDataset(tmp_path / "clips", tiny_spec(), classes=["abseiling", "ironing"])
    assert dataset.labels == [("ironin", -1), ("ironing", 1)] and dataset.label_errors[1] is None
    with pytest.raises(VideoAttrError, match=r"ironin-a has label 'ironin'.*close class names are 'ironing'"):
        dataset.check_label(0)
    dataset.check_label(1)
    assert (dataset[0]["label"], dataset[0]["target"]) == ("ironin", -1)
    dataset = build_dataset(dataset_cfg(root=str(tmp_path / "clips")), tiny_spec(class_names=["ironing"]))
    with pytest.raises(VideoAttrError, match=r"'ironin'.*'ironing'"):  # classes: null takes the model's
        dataset.check_label(0)
    (tmp_path / "three.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(VideoAttrError, match="has 3 classes but model tiny has 1"):
        build_dataset(
            dataset_cfg(root=str(tmp_path / "clips"), classes=str(tmp_path / "three.json")),
            tiny_spec(class_names=["ironing"]),
        )
    with pytest.raises(VideoAttrError, match="dataset.root is not set"):
        build_dataset(dataset_cfg(), tiny_spec())


@pytest.mark.parametrize("resize, crop", [((32, 32), (16, 16)), ((64, 64), (64, 64))])
def test_masks_are_sampled_and_cropped_like_frames(tmp_path, write_video, make_graded_frames, resize, crop):
    write_video(tmp_path / "clip_a.mp4", make_graded_frames(16, 32, 32))
    rng = np.random.default_rng(0)
    mask = rng.random((16, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "clip_a.npz", mask=mask)
    item = VideoDataset(tmp_path, tiny_spec(4, resize, crop), masks=True)[0]
    sampled = mask[[0, 4, 8, 12]]
    if resize == (64, 64):
        expected = sampled.repeat(2, axis=1).repeat(2, axis=2)  # nearest doubling
    else:
        expected = sampled[:, 8:24, 8:24]
    assert item["gt_mask"].dtype == torch.float32
    assert torch.equal(item["gt_mask"], torch.from_numpy(expected))


def test_mask_errors(tmp_path, write_video, make_graded_frames):
    write_video(tmp_path / "clip_a.mp4", make_graded_frames(8, 32, 32))
    with pytest.raises(VideoAttrError, match=r"clip_a\.npz is missing.*dataset.masks=false"):
        VideoDataset(tmp_path, tiny_spec(), masks=True)
    np.savez(tmp_path / "clip_a.npz", mask=np.zeros((5, 32, 32)))
    with pytest.raises(VideoAttrError, match="shape .5, 32, 32. but the clip has 8 frames"):
        VideoDataset(tmp_path, tiny_spec(), masks=True)[0]


def test_random_sampling_is_fixed_by_the_seed(tmp_path, write_video, make_graded_frames):
    write_video(tmp_path / "clip_a.mp4", make_graded_frames(20, 32, 32))
    draw = lambda seed: VideoDataset(tmp_path, tiny_spec(8), sampling="random", seed=seed)[0]["frame_indices"].tolist()
    assert draw(1) == draw(1)
    assert len({tuple(draw(seed)) for seed in range(6)}) > 1


def test_limit_keeps_the_first_clips_in_name_order(tmp_path, write_video, make_graded_frames):
    for name in ("c-1", "a-2", "b-3"):
        write_video(tmp_path / f"{name}.mp4", make_graded_frames(8, 32, 32))
    spec = tiny_spec(8, class_names=["a", "b", "c"])
    dataset = build_dataset(dataset_cfg(root=str(tmp_path), limit=2), spec)
    assert [dataset.clip_name(i) for i in range(len(dataset))] == ["a-2", "b-3"]


def test_clips_keeps_the_named_clips_in_their_order(tmp_path, write_video, make_graded_frames):
    for name in ("c-1", "a-2", "b-3"):
        write_video(tmp_path / f"{name}.mp4", make_graded_frames(8, 32, 32))
    spec = tiny_spec(8, class_names=["a", "b", "c"])
    dataset = build_dataset(dataset_cfg(root=str(tmp_path), clips=["c-1", "a-2"]), spec)
    assert [dataset[i]["label"] for i in range(len(dataset))] == ["c", "a"]
    dataset = build_dataset(dataset_cfg(root=str(tmp_path), clips=["b-3", "a-2", "c-1"], limit=1), spec)
    assert [dataset.clip_name(i) for i in range(len(dataset))] == ["b-3"]
    with pytest.raises(VideoAttrError, match=r"Clip\(s\) d-4 not found in the dataset: .* e.g. a-2, b-3, c-1"):
        build_dataset(dataset_cfg(root=str(tmp_path), clips=["a-2", "d-4"]), spec)


# Shipped demo clips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "demo, clip, label, target",
    [
        ("kinetics_demo", "ironing-3sEk_w2T8Fw_15_10", "ironing", 165),
        ("kinetics_demo", "playing guitar-2enXX9xrIp0_7_10", "playing guitar", 232),
        ("epic_noun_demo", "cloth-take-P12_06_18977", "cloth", 32),
        ("epic_verb_demo", "take-cloth-P12_06_18977", "take", 0),
        ("epic_verb_demo", "stir-food-P03_05_6751", "mix", 6),  # 'stir' is an alias of class 6 'mix'
    ],
)
def test_demo_datasets(demo, clip, label, target):
    with initialize_config_dir(config_dir=os.path.abspath(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+dataset={demo}"]).dataset
    assert cfg.root.startswith(str(videoattr.ASSETS))
    dataset = build_dataset(cfg, tiny_spec(8, resize=(256, 344), crop=(224, 224)))
    assert len(dataset) == 8
    item = dataset[[dataset.clip_name(i) for i in range(len(dataset))].index(clip)]
    assert (item["label"], item["target"]) == (label, target)
    if demo == "kinetics_demo":
        assert json.loads((videoattr.ASSETS / "demo/kinetics/classes.json").read_text()).index(label) == target
    assert item["frame_indices"].tolist() == list(range(0, 16, 2))
    assert item["frames"].shape == (8, 224, 224, 3)
    reader = open_clip(item["path"])
    assert len(reader) == 16 and reader.read([15]).shape == (1, 256, 344, 3)


@pytest.mark.parametrize("cuda, size", [(False, 1), (True, 8)], ids=["cpu", "gpu"])
@pytest.mark.parametrize("dataset", ["synthetic", "videos"])
def test_the_default_batch_size_follows_the_device(monkeypatch, dataset, cuda, size):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    overrides = [f"dataset={dataset}"] + (["dataset.root=/clips"] if dataset == "videos" else [])
    cfg = compose_config(overrides)
    assert cfg.dataset.batch_size is None
    assert batch_size_of(cfg) == size
    assert batch_size_of(compose_config([*overrides, "dataset.batch_size=3"])) == 3


@pytest.mark.parametrize(
    "overrides, processes, cuda, device",
    [
        ([], 1, True, "cuda:0"),
        (["trainer.devices=[2,3]"], 1, True, "cuda:2"),
        (["trainer.accelerator=gpu"], 1, True, "cuda:0"),
        (["trainer.accelerator=cpu"], 1, True, "cpu"),
        ([], 2, True, "cpu"),
        ([], 1, False, "cpu"),
    ],
    ids=["auto-gpu", "devices-list", "gpu", "cpu-asked", "ddp-ranks", "no-gpu"],
)
def test_every_method_runs_on_the_gpu_the_trainer_may_use(monkeypatch, overrides, processes, cuda, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert run_device(compose_config(["method=grad_cam", *overrides]), processes) == torch.device(device)


def test_a_gpu_asked_for_without_cuda_is_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        VideoAttrError, match=r"^trainer.accelerator=gpu but torch sees no CUDA device: .*accelerator=cpu\.$"
    ):
        run_device(compose_config(["method=grad", "trainer.accelerator=gpu"]))
