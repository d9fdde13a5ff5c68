import decord
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torchvision.models.video import MViT

import videoattr
from benchmarks.reference import gaussian_blur
from builders.train_synthetic import SYMMETRIES, symmetric
from helpers import ROOT
from videoattr.metrics import clip_metrics, pointing_game
from videoattr.models import load_model
from videoattr.models.hf import HFVideoClassifier
from videoattr.models.synthetic import SyntheticNet, synthetic_vit
from videoattr.synthetic import CLASSES, SyntheticClips, World, normalise, render_clip, save_clip
from videoattr.synthetic.generator import DIRECTIONS, TARGET_COLOUR

CLIPS = videoattr.ASSETS / "synthetic" / "clips"
# The trained models of the world: config name -> (network class, committed checkpoint, Grad-CAM layer, most
# parameters).
TRAINED = {
    "synthetic": (SyntheticNet, "model.pt", "layer4", 100_000),
    "synthetic_mvit": (MViT, "mvit.pt", None, 100_000),
    "synthetic_vit": (HFVideoClassifier, "vit.pt", None, 200_000),
}


@pytest.fixture(scope="module", params=list(TRAINED))
def model(request):
    net, spec = load_model(OmegaConf.load(ROOT / "conf" / "model" / f"{request.param}.yaml"))
    return net, spec


def predict(net, clips: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net(chunk).argmax(1) for chunk in clips.split(25)])


def test_same_seed_same_clip_and_labels_cycle():
    a = render_clip(np.random.default_rng(7), 2)
    b = render_clip(np.random.default_rng(7), 2)
    assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))
    assert not np.array_equal(a[0], render_clip(np.random.default_rng(8), 2)[0])
    assert [SyntheticClips(8, seed=0)[i]["target"] for i in range(8)] == [0, 1, 2, 3, 0, 1, 2, 3]


def disk_motion(mask: np.ndarray) -> np.ndarray:
    """The disk's mean motion per frame (rows, columns) in a T x H x W mask, from its first to its last frame."""
    present = np.flatnonzero(mask.any((1, 2)))
    first, last = (np.argwhere(mask[t]).mean(0) for t in present[[0, -1]])
    return (last - first) / (len(present) - 1)


@pytest.mark.parametrize("seed", range(8))
def test_ground_truth_is_exactly_the_target_pixels(seed):
    world = World()
    label = seed % len(CLASSES)
    frames, mask, _ = render_clip(np.random.default_rng(seed), label, world)
    without, _, _ = render_clip(np.random.default_rng(seed), label, world, with_target=False)
    assert frames.shape == (16, 112, 112, 3) and mask.shape == (16, 112, 112) and mask.dtype == np.uint8
    # the target is the only thing that differs, it has its colour, and nothing else does
    assert np.array_equal((frames != without).any(-1), mask.astype(bool))
    assert np.array_equal((frames == TARGET_COLOUR).all(-1), mask.astype(bool))
    # it shows for one window of consecutive frames and moves the way its class says
    present = np.flatnonzero(mask.any((1, 2)))
    assert world.min_present <= len(present) <= world.max_present
    assert np.array_equal(present, np.arange(present[0], present[-1] + 1))
    motion = disk_motion(mask)
    direction = np.array(DIRECTIONS[CLASSES[label]])
    assert motion @ direction >= world.target_speed[0] - 0.5
    assert abs(motion @ direction[::-1]) < 0.5


def test_evidence_is_spread_over_the_frame():
    centre = torch.zeros(16, 112, 112)
    centre[:, 56, 56] = 1.0
    masks = [torch.from_numpy(render_clip(np.random.default_rng([1, i]))[1]) for i in range(48)]
    centroids = np.array([np.argwhere(m.numpy()).mean(0)[1:] for m in masks])
    assert centroids.min(0).max() < 25 and centroids.max(0).min() > 87
    assert np.mean([pointing_game(centre, m) for m in masks]) < 0.2


def test_video_round_trip_is_lossless(tmp_path):
    frames, mask, _ = render_clip(np.random.default_rng(3))
    video = save_clip(tmp_path, "up-3", frames, mask)
    decoded = decord.VideoReader(str(video)).get_batch(list(range(16))).asnumpy()
    assert np.array_equal(decoded, frames)
    assert np.array_equal(np.load(tmp_path / "up-3.npz")["mask"], mask)


def test_shipped_clips_decode_with_masks_and_are_classified(model):
    net, spec = model
    assert spec.class_names == list(CLASSES) and spec.gradcam_layer == TRAINED[spec.name][2]
    videos = sorted(CLIPS.glob("*.mp4"))
    assert len(videos) >= 6 and {v.name.split("-")[0] for v in videos} == set(CLASSES)
    clips, labels = [], []
    for video in videos:
        frames = decord.VideoReader(str(video)).get_batch(list(range(16))).asnumpy()
        mask = np.load(video.with_suffix(".npz"))["mask"]
        assert frames.shape == (16, 112, 112, 3) and mask.shape == (16, 112, 112) and mask.dtype == np.uint8
        assert np.array_equal((frames == TARGET_COLOUR).all(-1), mask.astype(bool))
        clips.append(normalise(frames))
        labels.append(CLASSES.index(video.name.split("-")[0]))
    assert predict(net, torch.stack(clips)).tolist() == labels


@pytest.fixture(scope="module")
def fresh_clips() -> tuple[torch.Tensor, torch.Tensor]:
    """100 fresh clips and their labels (drawn once for every model)."""
    fresh = SyntheticClips(100, seed=12345)
    items = [fresh[i] for i in range(len(fresh))]
    return torch.stack([item["clip"] for item in items]), torch.tensor([item["target"] for item in items])


def test_model_is_small_and_accurate_on_fresh_clips(model, fresh_clips):
    net, spec = model
    kind, checkpoint, _, most = TRAINED[spec.name]
    assert isinstance(net, kind) and sum(p.numel() for p in net.parameters()) < most
    assert (videoattr.ASSETS / "synthetic" / checkpoint).stat().st_size < 1_000_000
    clips, targets = fresh_clips
    assert (predict(net, clips) == targets).float().mean() >= 0.99


def evidence_free(clip: torch.Tensor, removed: torch.Tensor) -> dict[str, torch.Tensor]:
    """The clip fully blurred (sigma 20 per frame, the pyramid's level 0), fully faded, and ``removed``."""
    blurred = torch.stack([gaussian_blur(clip[:, t], 20.0) for t in range(clip.shape[1])], dim=1)
    return {"blurred": blurred, "faded": torch.zeros_like(clip), "removed": removed}


@pytest.fixture(scope="module")
def evidence_free_cases() -> list[dict[str, torch.Tensor]]:
    """The shipped clips and 12 fresh ones, each fully blurred, fully faded and without its disk."""
    shipped = sorted(CLIPS.glob("*.mp4"))
    cases = []
    for video in shipped:  # written by make_synthetic_clips.py from (seed 100, label, i)
        name, i = video.stem.split("-")[0], int(video.stem.split("_")[-1])
        frames = decord.VideoReader(str(video)).get_batch(list(range(16))).asnumpy()
        removed, _, _ = render_clip(
            np.random.default_rng([100, CLASSES.index(name), i]), CLASSES.index(name), with_target=False
        )
        cases.append(evidence_free(normalise(frames), normalise(removed)))
    for i in range(12):
        rng = np.random.default_rng([98, i])
        state = rng.bit_generator.state
        frames, _, label = render_clip(rng, i % 4)
        rng.bit_generator.state = state
        removed, _, _ = render_clip(rng, label, with_target=False)
        cases.append(evidence_free(normalise(frames), normalise(removed)))
    return cases


def test_model_has_no_default_class(model, evidence_free_cases):
    """A clip without visible evidence belongs to no class: every class probability <= 0.35 (of 4)."""
    net, _ = model
    for kind in ("blurred", "faded", "removed"):
        with torch.no_grad():
            probs = net(torch.stack([case[kind] for case in evidence_free_cases])).softmax(dim=1)
        assert probs.max() <= 0.35, (kind, probs.max().item())


def test_ground_truth_map_is_more_faithful_than_a_wrong_one(model):
    net, _ = model
    frames, mask, label = render_clip(np.random.default_rng(5), 1)
    gt = torch.from_numpy(mask).float()
    wrong = gt.roll(56, dims=2)
    kwargs = {"groups": ["faithfulness"], "steps": 8, "baseline": "zero"}
    right_row = clip_metrics(net, normalise(frames), label, gt, **kwargs)
    wrong_row = clip_metrics(net, normalise(frames), label, wrong, **kwargs)
    assert right_row["deletion_auc"] < wrong_row["deletion_auc"]
    assert right_row["insertion_auc"] > wrong_row["insertion_auc"]


@pytest.mark.parametrize("label", range(len(CLASSES)))
def test_symmetric_training_clips_keep_the_label_the_disk_shows(label):
    """train_synthetic's symmetric versions of a clip: the disk moves the way their new label says."""
    _, mask, _ = render_clip(np.random.default_rng([7, label]), label)
    labels = set()
    for symmetry in SYMMETRIES:
        moved, new_label = symmetric(torch.from_numpy(mask)[None], label, symmetry)
        assert disk_motion(moved[0].numpy()) @ np.array(DIRECTIONS[CLASSES[new_label]]) >= World().target_speed[0] - 0.5
        labels.add(new_label)
    assert labels == set(range(len(CLASSES)))


def test_the_vits_stem_gives_the_time_major_tubelet_tokens_its_config_describes():
    """synthetic_vit's convolutional stem stands in for the tubelet Conv3d: 4 x 7 x 7 tokens, flattened time-major
    (as videoattr.models.hf.token_layout reads a ViViT), and a change inside one 4 x 16 x 16 tubelet moves that
    tubelet's token most."""
    torch.manual_seed(0)
    embed = synthetic_vit().eval().model.vivit.embeddings.patch_embeddings
    clip = torch.randn(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0))
    changed = clip.clone()
    changed[:, :, 4:8, 32:48, 80:96] += 2.0  # tubelet (t 1, h 2, w 5)
    with torch.no_grad():
        before, after = (embed(x.transpose(1, 2)) for x in (clip, changed))
    assert before.shape == (1, 4 * 7 * 7, 64)
    assert int((after - before).norm(dim=2).argmax()) == 1 * 49 + 2 * 7 + 5
