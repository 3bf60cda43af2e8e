rule evaluate:
    input:
        **slices("{dataset}"),
        checkpoint=model("{dataset}", "{method}")["checkpoint"],
    output:
        **run("{dataset}", "{method}"),
    log:
        "results/logs/evaluate/{dataset}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{method}.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one batched forward pass per round; robot + medpy are single-threaded
    resources:
        gpu=config["resources"]["gpus"],
        mem_mb=config["resources"]["evaluate_mem_mb"],
        runtime=config["resources"]["evaluate_runtime"],
    params:
        rounds=config["evaluate"]["rounds"],
        noise=config["evaluate"]["noise_px"],
        seed=config["evaluate"]["seed"],
        protocol=config["evaluate"]["protocol"],
        threshold=config["evaluate"]["threshold"],
        nsd_tolerance=config["evaluate"]["nsd_tolerance_mm"],
        overlay_slices=config["evaluate"]["overlay_slices"],
        device=config["train"]["device"],
    shell:
        "gdgp evaluate --slices {input.slices} --manifest {input.manifest} "
        "--checkpoint {input.checkpoint} --dataset {wildcards.dataset} --rounds {params.rounds} "
        "--noise {params.noise} --seed {params.seed} --protocol {params.protocol} --threshold {params.threshold} "
        "--nsd-tolerance {params.nsd_tolerance} "
        "--overlay-slices {params.overlay_slices} "
        "--device {params.device} --threads {threads} --out-clicks {output.clicks} "
        "--out-first-interaction {output.first_interaction} --out-overlays {output.overlays} > {log} 2>&1"


rule evaluate_all:
    input:
        every_run("clicks"),
    localrule: True


# The robot user on an extra training seed's model (same evaluation seed and settings).
use rule evaluate as evaluate_seed with:
    input:
        **slices("{dataset}"),
        checkpoint=model("{dataset}", "{method}", "{seed}")["checkpoint"],
    output:
        **run("{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/evaluate/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{method}/seed{seed}.tsv"
