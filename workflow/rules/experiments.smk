# The paper's GDGP experiments: Table 2 and Fig. 2 from gdgp on every dataset; Tables 3, 5
# and 6 from gdgp and its variants on the experiment datasets (experiments.datasets).
# Every training seed counts: Table 2 and Fig. 2 average over them, Tables 3, 5 and 6
# average each slice over them.


rule table2:
    input:
        checkpoints=[model(d, "gdgp", k)["checkpoint"] for d, k in table2_models()],
    output:
        csv="results/experiments/table2.csv",
        md="results/experiments/table2.md",
    log:
        "results/logs/experiments/table2.log",
    conda:
        "../../environment.yml"
    params:
        datasets=" ".join(d for d, _ in table2_models()),
    shell:
        "gdgp experiment table2 --checkpoints {input.checkpoints} --datasets {params.datasets} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule variant_table:
    input:
        clicks=lambda wc: experiment_runs("clicks", tables_for(VARIANTS)[wc.table]),
    output:
        csv="results/experiments/{table}.csv",
        md="results/experiments/{table}.md",
    log:
        "results/logs/experiments/{table}.log",
    wildcard_constraints:
        table="table3|table5|table6",
    conda:
        "../../environment.yml"
    params:
        # Dice at the largest report budget (total clicks; gdgp's first interaction is 7)
        budget=max(config["report"]["budgets"]),
    shell:
        "gdgp experiment {wildcards.table} --clicks {input.clicks} --budget {params.budget} "
        "--out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule fig2:
    input:
        losses=[model(d, "gdgp", k)["loss"] for d, k in table2_models()],
    output:
        report(
            "results/experiments/fig2_loss.png",
            category="Training",
            caption="../report/fig2.rst",
        ),
    log:
        "results/logs/experiments/fig2.log",
    conda:
        "../../environment.yml"
    params:
        datasets=" ".join(d for d, _ in table2_models()),
    shell:
        "gdgp experiment fig2 --losses {input.losses} --datasets {params.datasets} "
        "--out-png {output} > {log} 2>&1"


rule experiments_all:
    input:
        experiment_outputs(),
    localrule: True
