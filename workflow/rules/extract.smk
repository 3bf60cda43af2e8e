if DEMO_TASKS:

    rule demo_data:
        output:
            directory(f"{DATA_DIR}/{{task}}"),
        log:
            "results/logs/demo_data/{task}.log",
        benchmark:
            "results/benchmarks/demo_data/{task}.tsv"
        conda:
            "../../environment.yml"
        threads: 1  # numpy/scipy generation, single-threaded
        resources:  # runtime: the SLURM profile's default-resources (30 min; a demo task takes 3 s)
            mem_mb=1000,
        params:
            out=lambda wc, output: os.path.dirname(output[0]),
            seed=config["demo"]["seed"],
            patients=config["demo"]["patients"],
        shell:
            "gdgp demo --out {params.out} --task {wildcards.task} --seed {params.seed} "
            "--patients {params.patients} > {log} 2>&1"


# The raw data is DVC's (data.dvc, dvc.yaml's extract stage): the task folder is read, never
# compared by time stamp, which `dvc pull`/`dvc checkout` reset (a re-extraction would re-run
# everything downstream); after changing raw data without DVC: `snakemake -R extract`.
rule extract:
    input:
        task=ancient(task_dir),
        code=code("extract"),
    output:
        **slices("{dataset}"),
        skipped=skipped_cases("{dataset}"),
    log:
        "results/logs/extract/{dataset}.log",
    benchmark:
        "results/benchmarks/extract/{dataset}.tsv"
    conda:
        "../../environment.yml"
    threads: 1  # one case at a time; non-local means is the cost
    resources:  # runtime: the SLURM profile's default-resources (30 min)
        mem_mb=4000,  # one MSD volume in float32 plus its label
    params:
        # the demo generator's settings when the workflow makes the task (rule demo_data): the
        # task folder is not compared by time (ancient), so its settings are compared instead
        demo=lambda wc: (
            config["demo"] if dataset_cfg(wc)["task"] in DEMO_TASKS else None
        ),
        labels=lambda wc: [str(v) for v in dataset_cfg(wc)["labels"]],
        # the CT window in HU, or none (window: null, per-volume percentile normalisation)
        window=lambda wc: " ".join(
            str(v) for v in dataset_cfg(wc)["window"] or ["none"]
        ),
        n_train=lambda wc: dataset_cfg(wc)["n_train"],
        n_test=lambda wc: dataset_cfg(wc)["n_test"],
        # the extract settings (gdgp/job_params.py): the dataset's channel and n_val, preprocess, split
        settings=lambda wc: job_params(config, "extract", dataset=wc.dataset),
    shell:
        "gdgp extract --task-dir {input.task} --dataset {wildcards.dataset} --labels {params.labels:q} "
        "--window {params.window} --n-train {params.n_train} --n-test {params.n_test} "
        "--params {params.settings:q} "
        "--out-slices {output.slices} --out-manifest {output.manifest} "
        "--out-skipped {output.skipped} > {log} 2>&1"


# Target only (no job of its own): runs locally, so no log, benchmark, threads or resources.
# The slices the default target reads (DVC's extract stage): the benchmarked datasets and the
# experiments' (which may lie outside run_datasets).
rule extract_all:
    input:
        [slices(d)["slices"] for d in dict.fromkeys(DATASETS + EXPERIMENT_DATASETS)],
    localrule: True
