# The robot user on every trained model. A benchmarked method's model is evaluated by one job
# (one process, one checkpoint load): the test slices under evaluate.protocol (the main runs),
# the validation slices (when any dataset has n_val > 0; a dataset without validation slices
# gets header-only tables, which the validation report skips) and the test slices under every
# other compared protocol (evaluate.protocols). An experiment variant's job runs the test
# slices only. Same evaluation seed and settings in all.
rule evaluate:
    input:
        **slices("{dataset}"),
        checkpoint=model("{dataset}", "{method}", "{seed}")["checkpoint"],
        code=method_code("evaluate"),
    output:
        **model_runs("{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/evaluate/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{method}/seed{seed}.tsv"
    wildcard_constraints:
        method=METHOD_PATTERN,
    conda:
        "../../environment.yml"
    threads: 1  # one batched forward pass per round; robot + medpy are single-threaded
    resources:
        gpu=config["resources"]["gpus"],
        mem_mb=config["resources"]["evaluate_mem_mb"],
        runtime=config["resources"]["evaluate_runtime"],
    params:
        split="test",
        also=also_runs,
        # the evaluate settings (gdgp/job_params.py): rounds, protocol, noise, seed, threshold, ...
        settings=job_params(config, "evaluate"),
    shell:
        "gdgp evaluate --slices {input.slices} --manifest {input.manifest} --split {params.split} "
        "--checkpoint {input.checkpoint} --dataset {wildcards.dataset} --params {params.settings:q} "
        "--threads {threads} --out-clicks {output.clicks} "
        "--out-first-interaction {output.first_interaction} --out-overlays {output.overlays} "
        "{params.also} > {log} 2>&1"


# An experiment variant (the paper's Tables 3, 5, 6): the test slices under evaluate.protocol.
use rule evaluate as evaluate_variant with:
    output:
        **run("{dataset}", "{method}", "{seed}"),
    wildcard_constraints:
        method=VARIANT_PATTERN,


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule evaluate_all:
    input:
        every_run("clicks"),
    localrule: True
