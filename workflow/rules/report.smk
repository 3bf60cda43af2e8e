# The main report compares the configured methods on the test runs, every training seed
# (each slice averaged over the seeds); its loss curves and overlays show the first seed.
rule report:
    input:
        clicks=all_runs("clicks"),
        overlays=first_seed_runs("overlays"),
        losses=first_seed_losses(),
        skipped=[skipped_cases(d) for d in DATASETS],
        code=code("report"),
    output:
        # Tables in the Snakemake report (`snakemake --report`): each CSV with a caption that
        # shows its Markdown view or the CSV itself; the .md/.tex views are plain outputs.
        table4=report(
            REPORT_TABLES["table4"],
            category="Tables",
            subcategory="Test split",
            caption="../report/table4.rst",
        ),
        table4_md=REPORT_TABLES["table4_md"],
        table4_tex=REPORT_TABLES["table4_tex"],
        noc=report(
            REPORT_TABLES["noc"],
            category="Tables",
            subcategory="Test split",
            caption="../report/noc.rst",
        ),
        noc_md=REPORT_TABLES["noc_md"],
        significance=report(
            REPORT_TABLES["significance"],
            category="Tables",
            subcategory="Test split",
            caption="../report/significance.rst",
        ),
        empty_predictions=report(
            REPORT_TABLES["empty_predictions"],
            category="Checks",
            caption="../report/empty_predictions.rst",
        ),
        skipped=report(
            REPORT_TABLES["skipped"],
            category="Checks",
            caption="../report/skipped.rst",
        ),
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
        curve_csv=report(
            "results/dice_per_click.csv",
            category="Dice per click",
            caption="../report/dice_per_click.rst",
        ),
    log:
        "results/logs/report/report.log",
    benchmark:
        "results/benchmarks/report/report.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one process: pandas tables, scipy tests, numpy bootstrap, matplotlib figures
    resources:  # runtime: the SLURM profile's default-resources (30 min; the demo's report takes 20 s)
        mem_mb=2000,  # the clicks tables of every run (the demo's report peaks near 300 MB)
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
        # Table 4's contamination and random-weights marks (docs/pretrained.md)
        caveats=report_caveats(),
    shell:
        "gdgp report --clicks {input.clicks} --losses {input.losses} --overlays {input.overlays} "
        "--skipped {input.skipped} --out-dir results/report --metrics {output.metrics} --curves {output.curve_csv} "
        "--budgets {params.budgets} --noc-budget {params.noc_budget} --noc {params.noc} {params.reference} "
        "--order {params.order} {params.caveats} "
        "> {log} 2>&1"


# The validation report: the same tables from the configured methods' validation runs, for
# choosing settings; tables only. A dataset whose validation split came out
# empty (too few patients) has header-only runs, which --skip-empty passes over.
rule report_val:
    input:
        clicks=val_runs("clicks"),
        skipped=[skipped_cases(d) for d in VAL_DATASETS],
        code=code("report"),
    output:
        # the main report's table captions, which name the split by the rule
        table4=report(
            VAL_REPORT_TABLES["table4"],
            category="Tables",
            subcategory="Validation split",
            caption="../report/table4.rst",
        ),
        table4_md=VAL_REPORT_TABLES["table4_md"],
        noc=report(
            VAL_REPORT_TABLES["noc"],
            category="Tables",
            subcategory="Validation split",
            caption="../report/noc.rst",
        ),
        noc_md=VAL_REPORT_TABLES["noc_md"],
        significance=report(
            VAL_REPORT_TABLES["significance"],
            category="Tables",
            subcategory="Validation split",
            caption="../report/significance.rst",
        ),
    log:
        "results/logs/report_val/report_val.log",
    benchmark:
        "results/benchmarks/report_val/report_val.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one process, as the report rule (no figures)
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=2000,  # as the report rule
    params:
        out_dir=lambda wc, output: os.path.dirname(output.table4),
        budgets=" ".join(str(b) for b in config["report"]["budgets"]),
        noc_budget=config["report"]["noc_budget"],
        noc=" ".join(str(t) for t in config["report"]["noc"]),
        reference=(
            f"--reference {config['report']['reference_method']}"
            if config["report"]["reference_method"]
            else ""
        ),
        order=" ".join(METHODS + VARIANTS),
        caveats=report_caveats(),
    shell:
        "gdgp report --clicks {input.clicks} --skipped {input.skipped} --out-dir {params.out_dir} "
        "--budgets {params.budgets} --noc-budget {params.noc_budget} --noc {params.noc} {params.reference} "
        "--order {params.order} {params.caveats} --skip-empty --no-figures --split-name validation "
        "> {log} 2>&1"


# How the ranking moves between click protocols: every model's test runs (methods and
# experiment variants, every seed) under each of evaluate.protocols (the main runs for
# evaluate.protocol itself).
rule protocol_sensitivity:
    input:
        clicks=[f for p in COMPARED_PROTOCOLS for f in protocol_runs(p, "clicks")],
        code=code("report-protocols"),
    output:
        report(
            PROTOCOL_SENSITIVITY,
            category="Tables",
            subcategory="Click protocols",
            caption="../report/protocol_sensitivity.rst",
        ),
    log:
        "results/logs/protocol_sensitivity/protocol_sensitivity.log",
    benchmark:
        "results/benchmarks/protocol_sensitivity/protocol_sensitivity.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one process: pandas means and scipy's Kendall tau
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=2000,  # the clicks tables of every protocol's runs (the demo's peaks near 200 MB)
    params:
        clicks=protocol_clicks_args(),
        budgets=" ".join(str(b) for b in config["report"]["budgets"]),
        order=" ".join(METHODS + VARIANTS),
    shell:
        "gdgp report-protocols {params.clicks} --budgets {params.budgets} --order {params.order} "
        "--out-csv {output} > {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule report_all:
    input:
        report_outputs(),
    localrule: True
