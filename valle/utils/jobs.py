"""What one job of a split stage (run.sh: ``$cmd JOB=1:N``) may use of its machine."""
import os


def threads_per_job(num_jobs: int) -> int:
    """Torch threads of one job: Slurm's --cpus-per-task inside a Slurm job (utils/slurm.pl --num-threads),
    else the machine's cores shared among ``num_jobs`` jobs (utils/run.pl runs them all at once)."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    return max(1, (os.cpu_count() or 1) // num_jobs)
