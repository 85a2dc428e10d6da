"""Which strangers an identification threshold lets through, class by class: a shipped model's test split in
simulated galleries of G classes x k references (as the card's table is measured), each stranger class's share
of its probes accepted, its share of all the non-mated probes, and the (stranger, enrolled) pairs behind them.

Run: `python -m training.strangers --recipe bodyparts --onnx models/bodyparts.onnx --identities 3 --threshold 0.786`
(without --threshold: the card's own for that gallery at its default FPIR).
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from training.metrics.galleries import simulate_galleries


@dataclass(frozen=True)
class StrangerClass:
    label: str
    probes: int  # probe-gallery trials: its images times the galleries it was a stranger to
    accepted: float  # share of those trials answered as someone
    share_of_all: float  # its accepted trials over every non-mated trial
    taken_for: dict[str, int]  # enrolled class -> trials answered as it


def strangers_by_class(
    emb: ArrayLike,
    labels: ArrayLike,
    *,
    identities: int,
    k: int,
    threshold: float,
    rounds: int,
    seed: int,
    statistic: str = "centroid",
) -> list[StrangerClass]:
    """Per class of strangers, most accepted share of all first, over the galleries `simulate_galleries`
    draws: `rounds` of `identities` random classes with more than k images (k random references each), every
    image of every other class a probe."""
    trials = simulate_galleries(
        emb, labels, identities=identities, k=k, rounds=rounds, seed=seed, statistic=statistic
    )
    hit = trials.non_mated <= threshold
    out = []
    for c in np.unique(trials.non_mated_labels):
        mine = trials.non_mated_labels == c
        taken = Counter(str(n) for n in trials.non_mated_nearest[mine & hit])
        out.append(
            StrangerClass(
                str(c),
                int(mine.sum()),
                float(hit[mine].mean()),
                float(hit[mine].sum() / hit.size),
                dict(taken.most_common()),
            )
        )
    return sorted(out, key=lambda s: (-s.share_of_all, s.label))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.strangers", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--onnx", required=True, help="a model whose .json card sits beside it")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--identities", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=8, help="stranger classes listed")
    args = parser.parse_args(argv)

    from modelcard import load_card
    from modelcard.identification import threshold_for
    from training.frozen import embed_records
    from training.pipeline import OnnxModule
    from training.recipes import load_records, make_split, recipe_config

    cfg = recipe_config(args.recipe)
    if args.data_root is not None:
        import dataclasses

        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, data_root=args.data_root))
    card = load_card(Path(args.onnx).with_suffix(".json"))
    if card.identification is None and args.threshold is None:
        parser.error("the card has no identification table: give --threshold")
    statistic = card.identification.statistic if card.identification else "nearest"
    threshold = args.threshold
    if threshold is None:
        threshold = threshold_for(card.identification.rows_at(), identities=args.identities, k=args.k)
    test = make_split(load_records(cfg.data), cfg.data).test
    emb = embed_records(OnnxModule(Path(args.onnx), threads=args.threads), test, card.input)
    found = strangers_by_class(
        emb,
        np.asarray([r.label for r in test]),
        identities=args.identities,
        k=args.k,
        threshold=threshold,
        rounds=args.rounds,
        seed=args.seed,
        statistic=statistic,
    )
    print(
        f"threshold {threshold:.3f}, {args.identities} classes x {args.k} references, {args.rounds} galleries"
    )
    print(
        f"strangers accepted: {sum(s.share_of_all for s in found):.2%} of probes, "
        f"{np.mean([s.accepted for s in found]):.2%} per class"
    )
    for s in found[: args.top]:
        often = ", ".join(f"{c} {n}" for c, n in list(s.taken_for.items())[:3])
        print(f"  {s.label}: {s.accepted:.1%} of its probes, {s.share_of_all:.2%} of all; taken for {often}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
