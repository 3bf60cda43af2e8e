# The tuning sweep (`snakemake --cores all tune_all`; not part of the default target): for each
# method of tuning.grids, one hyperparameter over a few values, each value trained with every
# training seed on the tuning datasets and scored on their validation slices under
# evaluate.protocol; results/report/val/tuning.{csv,md} says which value has the best
# validation Dice at max(report.budgets). Chosen values are copied into config/config.yaml by
# hand. The plan, the setting names and the paths: rules/common.smk, gdgp/tuning_plan.py.


wildcard_constraints:
    setting=SETTING_PATTERN,


# One model per tuned method, setting, tuning dataset and training seed: the train rule with
# the grid's value in place (--set key=value, or --lr for lr).
use rule train as tune_train with:
    output:
        **tuning_model("{dataset}", "{method}", "{setting}", "{seed}"),
    log:
        "results/logs/tuning/train/{dataset}/{method}/{setting}/seed{seed}.log",
    benchmark:
        "results/benchmarks/tuning/train/{dataset}/{method}/{setting}/seed{seed}.tsv"
    params:
        sets=tuning_sets,
        settings=lambda wc: job_params(
            config, "train", overrides={"train.lr": tuning_lr(wc)}
        ),


# Each tuning model on the validation slices under evaluate.protocol (the evaluation settings
# of every other run).
use rule evaluate_variant as tune_evaluate with:
    input:
        **slices("{dataset}"),
        checkpoint=tuning_model("{dataset}", "{method}", "{setting}", "{seed}")[
            "checkpoint"
        ],
        code=method_code("evaluate"),
    output:
        **tuning_run("{dataset}", "{method}", "{setting}", "{seed}"),
    log:
        "results/logs/tuning/evaluate/{dataset}/{method}/{setting}/seed{seed}.log",
    benchmark:
        "results/benchmarks/tuning/evaluate/{dataset}/{method}/{setting}/seed{seed}.tsv"
    wildcard_constraints:
        method=METHOD_PATTERN,
    params:
        split="val",


# Per method: validation Dice of every value at the largest budget, the chosen value and
# the configured one.
rule tuning_report:
    input:
        clicks=tuning_inputs,
        code=code("report-tuning"),
    output:
        csv=report(
            TUNING_REPORT["csv"],
            category="Tuning",
            caption="../report/tuning.rst",
        ),
        md=TUNING_REPORT["md"],
    log:
        "results/logs/tuning/tuning_report.log",
    benchmark:
        "results/benchmarks/tuning/tuning_report.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one process: pandas means over the validation runs
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=2000,  # the sweep's validation clicks tables, as the report rule
    params:
        clicks=tuning_clicks_args(),
        configured=tuning_configured_args(),
        budget=max(config["report"]["budgets"]),
        order=" ".join(METHODS),
    shell:
        "gdgp report-tuning {params.clicks} {params.configured} --budget {params.budget} "
        "--order {params.order} --skip-empty --out-csv {output.csv} --out-md {output.md} "
        "> {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule tune_all:
    input:
        tuning_outputs,
    localrule: True
