# The main report compares the configured methods on the test runs, every training seed
# (each slice averaged over the seeds); its loss curves and overlays show the first seed.
rule report:
    input:
        clicks=all_runs("clicks"),
        overlays=first_seed_runs("overlays"),
        losses=first_seed_losses(),
        skipped=[skipped_cases(d) for d in DATASETS],
    output:
        tables=REPORT_TABLES,
        curves=report(
            report_figures()["curves"],
            category="Dice per click",
            caption="../report/curves.rst",
        ),
        overlays=report(
            report_figures()["overlays"],
            category="Qualitative",
            caption="../report/overlays.rst",
        ),
        loss=report(
            report_figures()["loss"],
            category="Training",
            caption="../report/loss.rst",
        ),
        metrics="results/metrics.json",
        curve_csv="results/dice_per_click.csv",
    log:
        "results/logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        # total clicks, first interaction included (methods compared at equal cost)
        budgets=" ".join(str(b) for b in config["report"]["budgets"]),
        noc_budget=config["report"]["noc_budget"],
        noc=" ".join(str(t) for t in config["report"]["noc"]),
        reference=(
            f"--reference {config['report']['reference_method']}"
            if config["report"]["reference_method"]
            else ""
        ),
        order=" ".join(METHODS),
    shell:
        "gdgp report --clicks {input.clicks} --losses {input.losses} --overlays {input.overlays} "
        "--skipped {input.skipped} --out-dir results/report --metrics {output.metrics} --curves {output.curve_csv} "
        "--budgets {params.budgets} --noc-budget {params.noc_budget} --noc {params.noc} {params.reference} "
        "--order {params.order} "
        "> {log} 2>&1"


# The validation report: the same tables from the configured methods' validation runs, for
# choosing settings; tables only. A dataset whose validation split came out
# empty (too few patients) has header-only runs, which --skip-empty passes over.
rule report_val:
    input:
        clicks=val_runs("clicks"),
        skipped=[skipped_cases(d) for d in VAL_DATASETS],
    output:
        tables=VAL_REPORT_TABLES,
    log:
        "results/logs/report_val/report_val.log",
    benchmark:
        "results/benchmarks/report_val/report_val.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        out_dir=lambda wc, output: os.path.dirname(output.tables[0]),
        budgets=" ".join(str(b) for b in config["report"]["budgets"]),
        noc_budget=config["report"]["noc_budget"],
        noc=" ".join(str(t) for t in config["report"]["noc"]),
        reference=(
            f"--reference {config['report']['reference_method']}"
            if config["report"]["reference_method"]
            else ""
        ),
        order=" ".join(METHODS + VARIANTS),
    shell:
        "gdgp report --clicks {input.clicks} --skipped {input.skipped} --out-dir {params.out_dir} "
        "--budgets {params.budgets} --noc-budget {params.noc_budget} --noc {params.noc} {params.reference} "
        "--order {params.order} --skip-empty --no-figures --split-name validation "
        "> {log} 2>&1"


# How the ranking moves between click protocols: every model's test runs (methods and
# experiment variants, every seed) under each of evaluate.protocols (the main runs for
# evaluate.protocol itself).
rule protocol_sensitivity:
    input:
        clicks=[f for p in COMPARED_PROTOCOLS for f in protocol_runs(p, "clicks")],
    output:
        PROTOCOL_SENSITIVITY,
    log:
        "results/logs/protocol_sensitivity/protocol_sensitivity.log",
    benchmark:
        "results/benchmarks/protocol_sensitivity/protocol_sensitivity.tsv"
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
    params:
        clicks=protocol_clicks_args(),
        budgets=" ".join(str(b) for b in config["report"]["budgets"]),
        order=" ".join(METHODS + VARIANTS),
    shell:
        "gdgp report-protocols {params.clicks} --budgets {params.budgets} --order {params.order} "
        "--out-csv {output} > {log} 2>&1"


rule report_all:
    input:
        report_outputs(),
    localrule: True
