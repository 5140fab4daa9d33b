"""expkit predict PATH "text" ... : the class of new texts, from a run folder or an export."""

from __future__ import annotations

import argparse
import json
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit predict",
        description="Predict the class of texts with a trained text classifier. PATH is a run folder "
        "(outputs/<experiment>/<timestamp>) or a folder written by `expkit export`. Runs offline.",
    )
    p.add_argument("path", help="run folder or export folder")
    p.add_argument("texts", nargs="*", help="texts to classify (or use --file)")
    p.add_argument("--file", help="a file with one text a line ('-' for standard input)")
    p.add_argument("--top-k", type=int, default=1, help="show the K most likely classes (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object a line")
    p.add_argument("--compile", action="store_true", help="run the model under torch.compile")
    p.add_argument("--device", default="cpu", help="map_location for the weights (default cpu)")
    return p


def main(argv: list[str]) -> int:
    from expkit.errors import ExpkitError

    args = parser().parse_args(argv)
    if args.top_k < 1:
        raise ExpkitError(f"--top-k must be >= 1, got {args.top_k}.")
    texts = list(args.texts)
    if args.file:
        try:
            handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
            with handle:
                texts += [line.rstrip("\n") for line in handle if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise ExpkitError(f"Cannot read --file {args.file}: {err}") from None
    if not texts:
        parser().error("give texts to classify, or --file FILE")
    from expkit.inference import TextClassifier

    model = TextClassifier.from_path(args.path, map_location=args.device)
    k = min(args.top_k, len(model.class_names))
    if args.compile:
        model.compile()
    probs = model.predict_proba(texts)
    top = probs.topk(k, dim=-1)
    for text, values, indices in zip(texts, top.values.tolist(), top.indices.tolist()):
        labels = [model.class_names[i] for i in indices]
        if args.json:
            print(json.dumps({"text": text, "predictions": [{"label": l, "probability": round(p, 6)} for l, p in zip(labels, values)]}))
        else:
            print("\t".join(f"{l} {p:.4f}" for l, p in zip(labels, values)) + f"\t{text[:60]}")
    return 0
