"""What one job of a split stage (run.sh: ``$cmd JOB=1:N``) may use of its machine."""
import os


def job_threads(whole_machine: bool = False) -> int:
    """Torch threads of one job. Kaldi's convention: one core per job, parallelism comes from --nj (so that
    results do not depend on --nj: float sums come out differently with another thread count). A Slurm job
    gets the cores it asked for (utils/slurm.pl --num-threads N sets --cpus-per-task). ``whole_machine``: a
    step that runs alone (stage 3's training) takes every core here."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    return (os.cpu_count() or 1) if whole_machine else 1
