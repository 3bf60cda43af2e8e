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
        epochs=config["train"]["epochs"],
        batch_size=config["train"]["batch_size"],
        lr=method_lr,
        lr_step=config["train"]["lr_step"],
        lr_gamma=config["train"]["lr_gamma"],
        rotate_deg=config["train"]["rotate_deg"],
        scale=config["train"]["scale"],
        flip_prob=config["train"]["flip_prob"],
        device=config["train"]["device"],
    shell:
        "gdgp train --slices {input.slices} --manifest {input.manifest} --method {wildcards.method} "
        "{params.sets} --epochs {params.epochs} --batch-size {params.batch_size} --lr {params.lr} "
        "--lr-step {params.lr_step} --lr-gamma {params.lr_gamma} --rotate-deg {params.rotate_deg} "
        "--scale {params.scale} --flip-prob {params.flip_prob} --seed {wildcards.seed} "
        "--device {params.device} --threads {threads} --out-checkpoint {output.checkpoint} "
        "--out-loss {output.loss} > {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
rule train_all:
    input:
        every_model("checkpoint"),
    localrule: True
