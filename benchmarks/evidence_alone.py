"""What the model of the synthetic world says when only the evidence is kept, or only it is removed.

For each benchmark clip (the red disk of ``videoattr/assets/synthetic/clips``) and each perturbation of the
perturbation methods (blur: the pyramid's level 0, sigma 20; fade: 0 after normalisation) this perturbs,
with binary masks and no fit:

- ``all``: the whole clip perturbed (the fit's baseline, p_baseline);
- ``keep disk +R``: all but the ground-truth disk grown by R pixels perturbed (an ideal preserve mask);
- ``remove disk +R``: only that grown disk perturbed (an ideal delete mask);
- ``keep context``: all but a 25 x 25 square (5 % of each frame) in the frame corner farthest from the
  disk perturbed (a preserve mask of area 0.05 that misses the disk);

and gives the mask's mean (the share kept or removed) and the target's probability, beside the clean
clip's and that of the clip rendered without the disk (``render_clip(..., with_target=False)``, the
clip's seed read from its name ``<class>-<seed>_<i>``). Each row has the share of the lead the fit
diagnostics judge (``diagnostics.effects``: preserve_effect for ``keep``, delete_effect for ``remove``)
and on how many clips it meets the objective's bound (0.9, 0.5).

Usage: python -m benchmarks.evidence_alone [--model synthetic_mvit] [--grow 0 6 10] [--out FILE.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from videoattr.data import build_dataset
from videoattr.methods.perturbation.baseline import fully_perturbed
from videoattr.methods.perturbation.diagnostics import DELETE_MIN, PRESERVE_MIN, effects
from videoattr.models import load_model
from videoattr.synthetic import CLASSES, normalise, render_clip

CONF = Path(__file__).resolve().parents[1] / "conf"
SQUARE = 25  # pixels: 625 / 112^2 = 5 % of a frame


def without_disk(name: str) -> torch.Tensor:
    """The benchmark clip ``name`` (``<class>-<seed>_<i>``, builders/make_synthetic_clips.py) rendered
    without its disk: 3 x T x H x W normalised."""
    label, rest = name.split("-")
    seed, index = (int(v) for v in rest.split("_"))
    label_index = CLASSES.index(label)
    frames, _, _ = render_clip(np.random.default_rng([seed, label_index, index]), label_index, with_target=False)
    return normalise(frames)


def grown(gt: torch.Tensor, pixels: int) -> torch.Tensor:
    """N x T x H x W binary masks grown by a square of 2 ``pixels`` + 1."""
    return F.max_pool2d(gt, 2 * pixels + 1, 1, pixels) if pixels else gt


def far_corner(gt: torch.Tensor) -> torch.Tensor:
    """N x T x H x W: 1 on a SQUARE x SQUARE square in the frame corner farthest from each clip's disk."""
    n, t, h, w = gt.shape
    masks = torch.zeros_like(gt)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=gt.dtype), torch.arange(w, dtype=gt.dtype), indexing="ij")
    for i in range(n):
        total = gt[i].sum()
        cy, cx = (gt[i] * ys).sum() / total, (gt[i] * xs).sum() / total
        top, left = (0 if cy > h / 2 else h - SQUARE), (0 if cx > w / 2 else w - SQUARE)
        masks[i, :, top : top + SQUARE, left : left + SQUARE] = 1
    return masks


@torch.no_grad()
def measure(model: str, grow: list[int]) -> pd.DataFrame:
    """One row per condition: its perturbation, the objective it is judged by, its mask's mean (the share
    kept or removed) and the target's probability on each clip (one column per clip)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"model={model}", "dataset=synthetic"])
    net, spec = load_model(cfg.model)
    items = [*build_dataset(cfg.dataset, spec, seed=cfg.seed)]
    clips = torch.stack([it["clip"] for it in items])
    target = torch.tensor([it["target"] for it in items])
    gt = torch.stack([torch.as_tensor(it["gt_mask"]) for it in items]).float()

    def row(condition: str, x: torch.Tensor, perturbation: str = "", judged: str = "", mask=None) -> dict:
        p = net(x).softmax(dim=1).gather(1, target[:, None]).squeeze(1).numpy()
        area = np.nan if mask is None else float(mask.mean())
        head = {"condition": condition, "perturbation": perturbation, "judged": judged, "area": area}
        return {**head, **{it["name"]: v for it, v in zip(items, p)}}

    rows = [row("clean", clips), row("disk not rendered", torch.stack([without_disk(it["name"]) for it in items]))]
    for perturbation in ("blur", "fade"):
        away = fully_perturbed(clips, perturbation)
        rows.append(row("all", away, perturbation, "baseline"))
        keeps = [(f"keep disk +{g}", grown(gt, g)) for g in grow] + [("keep context", far_corner(gt))]
        for label, keep in keeps:
            rows.append(row(label, keep[:, None] * clips + (1 - keep[:, None]) * away, perturbation, "preserve", keep))
        for g in grow:
            remove = grown(gt, g)
            mixed = remove[:, None] * away + (1 - remove[:, None]) * clips
            rows.append(row(f"remove disk +{g}", mixed, perturbation, "delete", remove))
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """Per condition: the mask's mean, p(target) mean [min, max], the judged effect and the clips whose
    effect meets the fit diagnostics' bound."""
    clips = [c for c in table.columns if c not in ("condition", "perturbation", "judged", "area")]
    probs = table[clips].to_numpy(float)
    clean = probs[table["condition"] == "clean"][0]
    lines = [
        "| condition | perturbation | mask mean | p(target) mean [min, max] | effect mean [min, max] | clips meeting it |",
        "|---|---|---|---|---|---|",
    ]
    for (_, row), p in zip(table.iterrows(), probs):
        cells = [row["condition"], row["perturbation"], "" if np.isnan(row["area"]) else f"{row['area']:.4f}"]
        cells += [f"{p.mean():.2f} [{p.min():.2f}, {p.max():.2f}]", "", ""]
        if row["judged"] in ("preserve", "delete"):
            base = probs[(table["judged"] == "baseline") & (table["perturbation"] == row["perturbation"])][0]
            preserve, delete = effects(clean, base, p, p)
            effect, bound = (preserve, PRESERVE_MIN) if row["judged"] == "preserve" else (delete, DELETE_MIN)
            cells[4] = f"{row['judged']}_effect {effect.mean():.2f} [{effect.min():.2f}, {effect.max():.2f}]"
            cells[5] = f"{int((effect >= bound).sum())} / {len(p)} (>= {bound:g})"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="synthetic_mvit", help="a conf/model of the synthetic world")
    parser.add_argument("--grow", nargs="+", type=int, default=[0, 6, 10], help="pixels the disk is grown by")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = parser.parse_args()
    text = markdown(measure(args.model, args.grow))
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
