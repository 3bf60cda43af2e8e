# The paper's GDGP experiments: Table 2 and Fig. 2 from gdgp on every dataset; Tables 3, 5
# and 6 from gdgp and its variants on the experiment datasets (experiments.datasets).
# Every training seed counts: Table 2 and Fig. 2 average over them, Tables 3, 5 and 6
# average each slice over them.


rule table2:
    input:
        losses=[model(d, "gdgp", k)["loss"] for d, k in table2_models()],
        code=code("experiment"),
    output:
        csv=report(
            "results/experiments/table2.csv",
            category="GDGP experiments",
            caption="../report/table2.rst",
        ),
        md="results/experiments/table2.md",
    log:
        "results/logs/experiments/table2.log",
    benchmark:
        "results/benchmarks/experiments/table2.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # reads the last row of each loss.csv
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=1000,  # pandas, a few small CSVs
    params:
        datasets=" ".join(d for d, _ in table2_models()),
        # the initial values are the configured (Settings-filled) methods.gdgp; a function, so
        # that a config without gdgp (and so without this job) never reads it
        initial=lambda wc: " ".join(
            f"{k}={config['methods']['gdgp'][k]}" for k in GDGP_LEARNED_PARAMETERS
        ),
    shell:
        "gdgp experiment table2 --losses {input.losses} --datasets {params.datasets} "
        "--initial {params.initial} --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule variant_table:
    input:
        clicks=lambda wc: experiment_runs("clicks", tables_for(VARIANTS)[wc.table]),
        code=code("experiment"),
    output:
        csv=report(
            "results/experiments/{table}.csv",
            category="GDGP experiments",
            caption="../report/variant_table.rst",
        ),
        md="results/experiments/{table}.md",
    log:
        "results/logs/experiments/{table}.log",
    benchmark:
        "results/benchmarks/experiments/{table}.tsv"
    wildcard_constraints:
        table="table3|table5|table6",
    conda:
        "../../environment.yml"
    threads: 1  # one process: pandas means, scipy tests, numpy bootstrap
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=2000,  # the clicks tables of gdgp and its variants, as the report rule
    params:
        # Dice at the largest report budget (total clicks; gdgp's first interaction is 7)
        budget=max(config["report"]["budgets"]),
    shell:
        "gdgp experiment {wildcards.table} --clicks {input.clicks} --budget {params.budget} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule fig2:
    input:
        losses=[model(d, "gdgp", k)["loss"] for d, k in table2_models()],
        code=code("experiment"),
    output:
        report(
            "results/experiments/fig2_loss.png",
            category="Training",
            caption="../report/fig2.rst",
        ),
    log:
        "results/logs/experiments/fig2.log",
    benchmark:
        "results/benchmarks/experiments/fig2.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one matplotlib figure from the loss.csv files
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=1000,  # a few small CSV files and one figure
    params:
        datasets=" ".join(d for d, _ in table2_models()),
    shell:
        "gdgp experiment fig2 --losses {input.losses} --datasets {params.datasets} "
        "--out-png {output} > {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule experiments_all:
    input:
        experiment_outputs(),
    localrule: True
