rule report:
    input:
        clicks=all_runs("clicks"),
        overlays=all_runs("overlays"),
        losses=all_models("loss"),
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
