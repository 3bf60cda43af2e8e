import json
import os
import shlex

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

DATA_DIR = config["data_dir"].rstrip("/")
DATASETS = list(config["datasets"])
METHODS = list(config["methods"])
DEMO_TASKS = (
    sorted({d["task"] for d in config["datasets"].values()})
    if config["demo"]["generate"]
    else []
)


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),
    task=r"Task\d\d\d*_[A-Za-z0-9][A-Za-z0-9]*",


def dataset_cfg(wildcards):
    return config["datasets"][wildcards.dataset]


def task_dir(wildcards):
    return f"{DATA_DIR}/{dataset_cfg(wildcards)['task']}"


def method_sets(wildcards):
    """The method's hyperparameters as repeated --set key=value options (YAML values)."""
    hparams = config["methods"][wildcards.method]
    return " ".join(
        f"--set {shlex.quote(f'{key}={json.dumps(value)}')}"
        for key, value in sorted(hparams.items())
    )


def slices(dataset):
    return {
        "slices": f"results/slices/{dataset}/slices.npz",
        "manifest": f"results/slices/{dataset}/manifest.csv",
    }


def model(dataset, method):
    return {
        "checkpoint": f"results/models/{dataset}/{method}/final.pt",
        "loss": f"results/models/{dataset}/{method}/loss.csv",
    }


def run(dataset, method):
    return {
        "clicks": f"results/runs/{dataset}/{method}/clicks.csv",
        "overlays": f"results/runs/{dataset}/{method}/overlays.npz",
    }


def all_runs(key):
    return [run(d, m)[key] for d in DATASETS for m in METHODS]


def all_models(key):
    return [model(d, m)[key] for d in DATASETS for m in METHODS]


REPORT_TABLES = [
    f"results/report/{name}"
    for name in (
        "table4.csv",
        "table4.md",
        "table4.tex",
        "noc.csv",
        "noc.md",
        "significance.csv",
        "empty_predictions.csv",
    )
]


def report_figures():
    return {
        "curves": [f"results/report/dice_per_click_{d}.png" for d in DATASETS],
        "overlays": [f"results/report/overlays_{d}.png" for d in DATASETS],
        "loss": "results/report/loss_curves.png",
    }


def get_final_output():
    figures = report_figures()
    return [
        *REPORT_TABLES,
        *figures["curves"],
        *figures["overlays"],
        figures["loss"],
        "results/metrics.json",
        "results/dice_per_click.csv",
    ]
