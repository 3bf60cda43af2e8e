# The robot user on every trained model: the test slices under evaluate.protocol (the main
# runs), the validation slices (datasets with n_val > 0) and the test slices under every
# other compared protocol (evaluate.protocols). Same evaluation seed and settings in all.
rule evaluate:
    input:
        **slices("{dataset}"),
        checkpoint=model("{dataset}", "{method}", "{seed}")["checkpoint"],
    output:
        **run("{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/evaluate/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{method}/seed{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one batched forward pass per round; robot + medpy are single-threaded
    resources:
        gpu=config["resources"]["gpus"],
        mem_mb=config["resources"]["evaluate_mem_mb"],
        runtime=config["resources"]["evaluate_runtime"],
    params:
        split="test",
        protocol=PROTOCOL,
        rounds=config["evaluate"]["rounds"],
        noise=config["evaluate"]["noise_px"],
        seed=config["evaluate"]["seed"],
        threshold=config["evaluate"]["threshold"],
        nsd_tolerance=config["evaluate"]["nsd_tolerance_mm"],
        overlay_slices=config["evaluate"]["overlay_slices"],
        device=config["train"]["device"],
    shell:
        "gdgp evaluate --slices {input.slices} --manifest {input.manifest} --split {params.split} "
        "--checkpoint {input.checkpoint} --dataset {wildcards.dataset} --rounds {params.rounds} "
        "--noise {params.noise} --seed {params.seed} --protocol {params.protocol} --threshold {params.threshold} "
        "--nsd-tolerance {params.nsd_tolerance} "
        "--overlay-slices {params.overlay_slices} "
        "--device {params.device} --threads {threads} --out-clicks {output.clicks} "
        "--out-first-interaction {output.first_interaction} --out-overlays {output.overlays} > {log} 2>&1"


# The validation slices (an empty split writes header-only tables, which the report skips).
use rule evaluate as evaluate_val with:
    output:
        **val_run("{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/evaluate_val/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate_val/{dataset}/{method}/seed{seed}.tsv"
    params:
        split="val",


# The test slices under another click protocol (protocol sensitivity; no retraining).
use rule evaluate as evaluate_protocol with:
    output:
        **protocol_run("{protocol}", "{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/evaluate_protocol/{protocol}/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate_protocol/{protocol}/{dataset}/{method}/seed{seed}.tsv"
    params:
        protocol=lambda wc: wc.protocol,


rule evaluate_all:
    input:
        every_run("clicks"),
    localrule: True
