"""What the commands print: the composed config as a tree, metric tables."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from omegaconf import DictConfig, OmegaConf

# Groups first, in the order a reader thinks of a run; the rest follow as they come.
TREE_ORDER = ("data", "model", "task", "optimizer", "scheduler", "trainer", "callbacks", "logger", "paths")


def print_config_tree(cfg: DictConfig) -> None:
    from rich import print as rprint
    from rich.syntax import Syntax
    from rich.tree import Tree

    tree = Tree("config", guide_style="dim")
    keys = [k for k in TREE_ORDER if k in cfg] + [k for k in cfg if k not in TREE_ORDER]
    for key in keys:
        node = cfg[key]
        branch = tree.add(f"[bold]{key}[/bold]")
        if isinstance(node, DictConfig):
            text = OmegaConf.to_yaml(node, resolve=True).rstrip() or "{}"
        else:
            text = str(node)
        branch.add(Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rprint(tree)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(format_value(v) for v in row))
    console = Console(width=200)
    console.print(title, highlight=False, soft_wrap=True)
    console.print(table)


def print_metrics(title: str, metrics: Mapping[str, Any]) -> None:
    names = sorted(k for k, v in metrics.items() if "/" in k and isinstance(v, (int, float)))
    print_table(title, ["metric", "value"], [(name, metrics[name]) for name in names])
