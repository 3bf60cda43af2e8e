# One model per method (or experiment variant), dataset and training seed (train.seeds).
rule train:
    input:
        **slices("{dataset}"),
        code=method_code("train"),
    output:
        **model("{dataset}", "{method}", "{seed}"),
    log:
        "results/logs/train/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{method}/seed{seed}.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # small 2D U-Nets: one torch thread per job, jobs run side by side
    resources:
        gpu=config["resources"]["gpus"],  # SLURM profile: --gpus=N; the job uses CUDA when it sees one
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=config["resources"]["train_runtime"],
    params:
        sets=method_sets,
        # the train settings (gdgp/job_params.py), the method's own learning rate in train.lr
        settings=lambda wc: job_params(
            config, "train", overrides={"train.lr": method_lr(wc)}
        ),
    shell:
        "gdgp train --slices {input.slices} --manifest {input.manifest} --method {wildcards.method} "
        "{params.sets} --params {params.settings:q} --seed {wildcards.seed} "
        "--threads {threads} --out-checkpoint {output.checkpoint} "
        "--out-loss {output.loss} > {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule train_all:
    input:
        every_model("checkpoint"),
    localrule: True
