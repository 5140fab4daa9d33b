"""expkit predict PATH ITEM ... : predictions for new inputs, from a run folder or an export."""

from __future__ import annotations

import argparse
import json
import sys

from expkit.commands import parse_command_line


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="expkit predict",
        description="Predict with a trained model. PATH is a run folder (outputs/<experiment>/<timestamp>) or a folder "
        "written by `expkit export`. Inputs depend on the task: texts for a text classifier, image files for an "
        "image classifier, rows of numbers (\"0.5\" or \"0.1,0.2\") for a regressor. Runs offline.",
    )
    p.add_argument("path", help="run folder or export folder")
    p.add_argument("inputs", nargs="*", help="inputs to predict (or use --file)")
    p.add_argument("--file", help="a file with one input a line ('-' for standard input; for regression a CSV of features)")
    p.add_argument("--top-k", type=int, default=1, help="classification: show the K most likely classes (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object a line")
    p.add_argument("--compile", action="store_true", help="run the model under torch.compile")
    p.add_argument("--device", default="cpu", help="map_location for the weights (default cpu)")
    p.add_argument("--trust-module", action="append", default=[], metavar="PKG",
                   help="allow classes from your own package PKG in the run's config or the export (repeatable)")
    return p


def read_inputs(args: argparse.Namespace) -> list[str]:
    from expkit.errors import ExpkitError

    items = list(args.inputs)
    if args.file:
        try:
            handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
            with handle:
                lines = [line.rstrip("\r\n") for line in handle]
        except (OSError, UnicodeDecodeError) as err:
            raise ExpkitError(f"Cannot read --file {args.file}: {err}") from None
        items += [line for line in lines if line.strip()]
    empty = [n for n, item in enumerate(items, 1) if not item.strip()]
    if empty:
        raise ExpkitError(f"input {empty[0]} is empty; give a non-empty text, file or row of numbers for every input.")
    return items


def main(argv: list[str]) -> int:
    from expkit.errors import ExpkitError

    args = parse_command_line(parser(), argv)
    if args.top_k < 1:
        raise ExpkitError(f"--top-k must be >= 1, got {args.top_k}.")
    items = read_inputs(args)
    if not items:
        parser().error("give inputs to predict, or --file FILE")
    from expkit.export_folder import is_export, load_export
    from expkit.runs.loading import load_run

    if is_export(args.path):
        model = load_export(args.path, map_location=args.device, trusted_modules=args.trust_module)
    else:
        model = load_run(args.path, map_location=args.device, trusted_modules=args.trust_module)
    names = model.class_names
    if names and args.top_k > len(names):
        print(f"note: --top-k {args.top_k} capped at {len(names)}, the number of classes.", file=sys.stderr)
    if args.compile:
        model.compile()
    for item, prediction in zip(items, model.predict(items, top_k=args.top_k)):
        if args.json:
            print(json.dumps({"input": item, **prediction}))
        elif "predictions" in prediction:
            shown = "\t".join(f"{p['label']} {p['probability']:.4f}" for p in prediction["predictions"])
            print(f"{shown}\t{item[:60]}")
        else:
            value = prediction["prediction"]
            text = f"{value:.6g}" if isinstance(value, float) else " ".join(f"{v:.6g}" for v in value)
            print(f"{text}\t{item[:60]}")
    return 0
