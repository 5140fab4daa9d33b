"""The subcommands of `expkit`, one module each; `COMMANDS` names them (kept import-free so that
`expkit --help` answers without torch)."""

COMMANDS = {
    "train": "Train (and test) an experiment; Hydra overrides, -m sweeps, --cfg job, --help.",
    "eval": "Test metrics of a run's checkpoint (any CSV with data.test_path=FILE).",
    "predict": "Class names and probabilities of new texts, from a run or an export.",
    "export": "Write a run's model as a Hugging Face Hub model folder (--push to upload).",
    "runs": "List runs under the outputs root: status, best metric, epochs, wall time.",
    "board": "TensorBoard on chosen runs, each named by what tells it apart (e.g. model=mlp lr=0.05).",
    "diff": "Compare runs: config keys that differ, final metrics side by side, environment.",
    "reproduce": "Run again from a run's saved config snapshot; compare metrics and environment.",
    "resume": "Continue an unfinished run from its last checkpoint, or extend a finished one.",
}


def parse_command_line(parser, argv):
    """The arguments of a subcommand, its options wherever they stand (`expkit resume RUN
    --trust-module PKG key=value`: argparse's intermixed parsing). After a `--` everything is
    taken literally, as argparse's plain parsing does (its intermixed parsing reads options there)."""
    if "--" in argv:
        return parser.parse_args(argv)
    return parser.parse_intermixed_args(argv)
