#!/usr/bin/env perl
# Kaldi's slurm.pl contract: the command line of utils/run.pl, run as one Slurm array job.
#
#   utils/slurm.pl [options] [JOB=1:N] <log-file> <command> [args...]
#
# Submits `sbatch --array=1-N[%max] --wait` of a script written to <log dir>/q/<name>.sh; task JOB runs the
# command with JOB replaced by its number (in the log-file name and every argument) and writes its log as
# run.pl does ("# Ended (code <rc>) ..." last). Slurm's own output of each task (what happens before the
# command starts, or a kill for memory or time) goes to <log dir>/q/<name>.<JOB>.out. Returns when every
# task has ended: 0 when all succeeded, else "slurm.pl: K / N failed, log is in <log>" and 1. Ctrl-C
# cancels the array (scancel). The environment (PATH, the virtualenv) goes with the job (sbatch's
# --export=ALL); the job runs in the current directory, which must be on a filesystem the nodes share.
#
# Options:
#   --max-jobs-run N    tasks of the array running at once (--array=1-N%M)
#   --num-threads N     --cpus-per-task=N
#   --mem M             --mem=M (per node, e.g. 4G)
#   --gpu N             --gres=gpu:N
#   --time T            --time=T (e.g. 4:00:00)
#   --partition P, --account A, --qos Q   passed as they are
# The environment variable SLURM_PL_EXTRA adds sbatch options (split on spaces).
use strict;
use warnings;
use Cwd qw(getcwd);
use File::Basename qw(basename dirname);
use File::Path qw(make_path);

my ($max_jobs_run, $num_threads) = (0, 1);
my @sbatch_opts;
my %direct = ("--mem" => "--mem", "--time" => "--time", "--partition" => "--partition",
              "--account" => "--account", "--qos" => "--qos");

sub usage {
  print STDERR "Usage: $0 [--max-jobs-run N] [--num-threads N] [--mem M] [--gpu N] [--time T] [--partition P] "
    . "[JOB=1:N] <log-file> <command> [args...]\n"
    . "e.g.: $0 --mem 4G JOB=1:8 exp/log/feats.JOB.log python local/align.py features --job JOB\n";
  exit 1;
}

while (@ARGV && $ARGV[0] =~ m/^--/) {
  my $opt = shift @ARGV;
  usage() unless @ARGV;
  my $val = shift @ARGV;
  if ($opt eq "--max-jobs-run") {
    die "$0: --max-jobs-run must be a positive integer, got '$val'\n" unless $val =~ m/^[1-9]\d*$/;
    $max_jobs_run = $val;
  } elsif ($opt eq "--num-threads") {
    die "$0: --num-threads must be a positive integer, got '$val'\n" unless $val =~ m/^[1-9]\d*$/;
    $num_threads = $val;
    push(@sbatch_opts, "--cpus-per-task=$val");
  } elsif ($opt eq "--gpu") {
    die "$0: --gpu must be a non-negative integer, got '$val'\n" unless $val =~ m/^\d+$/;
    push(@sbatch_opts, "--gres=gpu:$val") if $val > 0;
  } elsif ($direct{$opt}) {
    push(@sbatch_opts, "$direct{$opt}=$val");
  } else {
    die "$0: unknown option $opt\n";
  }
}
push(@sbatch_opts, split(" ", $ENV{SLURM_PL_EXTRA})) if $ENV{SLURM_PL_EXTRA};

my ($jobname, $jobstart, $jobend) = ("JOB", 1, 1);
my $array = 0;
if (@ARGV && $ARGV[0] =~ m/^([\w_][\w\d_]*)=(\d+):(\d+)$/) {
  ($jobname, $jobstart, $jobend) = ($1, $2, $3);
  die "$0: invalid job range $ARGV[0] ($jobstart > $jobend)\n" if $jobstart > $jobend;
  die "$0: job numbers start at 1, got $ARGV[0]\n" if $jobstart < 1;
  $array = 1;
  shift @ARGV;
} elsif (@ARGV && $ARGV[0] =~ m/=/) {
  die "$0: cannot parse job range '$ARGV[0]' (expected e.g. JOB=1:10)\n";
}
usage() if @ARGV < 2;
my $logfile = shift @ARGV;
if ($array && $logfile !~ m/$jobname/ && $jobend > $jobstart) {
  die "$0: the log file '$logfile' must contain $jobname when running jobs $jobstart..$jobend\n";
}
system("command -v sbatch >/dev/null 2>&1") == 0
  or die "$0: sbatch not found: Slurm's client commands must be on PATH (or use utils/run.pl)\n";

sub sq {  # single-quoted shell word
  my ($w) = @_;
  $w =~ s/'/'\\''/g;
  return "'$w'";
}
# A shell word whose occurrences of the job name become "${JOB}" at run time.
sub with_job {
  my ($w) = @_;
  return sq($w) unless $array;
  return join('"${JOB}"', map { sq($_) } split(/$jobname/, $w, -1));
}
sub subst {
  my ($s, $n) = @_;
  $s =~ s/$jobname/$n/g if $array;
  return $s;
}

my $cwd = getcwd();
my $logdir = dirname($logfile);
my $qdir = "$logdir/q";
make_path($qdir) unless -d $qdir;
my $name = basename($logfile);
$name =~ s/\.?$jobname\.?/./g if $array;
$name =~ s/\.log$//;
$name =~ s/^\.|\.$//g;
$name = "job" if $name eq "";
my $script = "$qdir/$name.sh";
my $display = join(" ", @ARGV);
my $cmd = @ARGV == 1 ? ($array ? join('${JOB}', split(/$jobname/, $ARGV[0], -1)) : $ARGV[0])
                     : join(" ", map { with_job($_) } @ARGV);

open(my $fh, ">", $script) or die "$0: cannot write $script: $!\n";
print $fh "#!/usr/bin/env bash\n# written by $0 for: $display\n";
print $fh "cd " . sq($cwd) . " || exit 1\n";
print $fh $array ? "JOB=\${SLURM_ARRAY_TASK_ID:?not a Slurm array task}\n" : "JOB=1\n";
print $fh "log=" . with_job($logfile) . "\n";
print $fh "mkdir -p \"\$(dirname \"\$log\")\"\n";
print $fh "{ echo " . sq("# $display") . " | sed \"s/$jobname/\$JOB/g\"; echo \"# Started at \$(date) on \$(hostname -s) "
  . "(Slurm job \${SLURM_JOB_ID:-?})\"; echo '#'; } > \"\$log\"\n";
print $fh "t0=\$(date +%s)\n";
print $fh "( $cmd ) >> \"\$log\" 2>&1\n";
print $fh "rc=\$?\nt1=\$(date +%s)\n";
print $fh "echo \"# Accounting: time=\$((t1 - t0)) threads=$num_threads\" >> \"\$log\"\n";
print $fh "echo \"# Ended (code \$rc) at \$(date), elapsed time \$((t1 - t0)) seconds\" >> \"\$log\"\n";
print $fh "exit \$rc\n";
close($fh);
chmod(0755, $script);

my $num_jobs = $jobend - $jobstart + 1;
# Logs of an earlier run must not be read as this run's.
unlink(subst($logfile, $_)) for ($jobstart .. $jobend);
my @args = ("sbatch", "--parsable", "--wait", "--export=ALL", "--chdir=$cwd", "--job-name=$name", @sbatch_opts);
if ($array) {
  push(@args, "--array=$jobstart-$jobend" . ($max_jobs_run > 0 ? "%$max_jobs_run" : ""),
       "--output=$qdir/$name.%a.out");
} else {
  push(@args, "--output=$qdir/$name.out");
}
push(@args, $script);

my $pid = open(my $sb, "-|");
die "$0: fork failed: $!\n" unless defined $pid;
if ($pid == 0) {
  open(STDERR, ">&", \*STDOUT);
  exec(@args) or die "$0: cannot run sbatch: $!\n";
}
my ($slurm_id, @sbatch_out);
$SIG{INT} = $SIG{TERM} = sub {
  system("scancel", $slurm_id) if defined $slurm_id;
  print STDERR "$0: interrupted; cancelled Slurm job " . ($slurm_id // "(not yet submitted)") . "\n";
  exit 1;
};
while (my $line = <$sb>) {
  chomp $line;
  if (!defined $slurm_id && $line =~ m/^(\d+)(;\S+)?$/) {
    $slurm_id = $1;
  } else {
    push(@sbatch_out, $line);
  }
}
close($sb);
my $sbatch_rc = $? >> 8;
if (!defined $slurm_id) {
  print STDERR "$0: sbatch did not submit the job (exit $sbatch_rc): " . join("\n", @sbatch_out) . "\n"
    . "$0: command was: " . join(" ", @args) . "\n";
  exit 1;
}

my @failed;
for my $n ($jobstart .. $jobend) {
  my $log = subst($logfile, $n);
  my $ok = 0;
  if (open(my $lf, "<", $log)) {
    while (my $l = <$lf>) { $ok = ($l =~ m/^# Ended \(code 0\)/) ? 1 : 0 if $l =~ m/^# Ended \(code/; }
    close($lf);
  }
  push(@failed, $n) unless $ok;
}
if (@failed) {
  my $shown = $num_jobs == 1 ? subst($logfile, $failed[0]) : subst($logfile, "*");
  print STDERR "slurm.pl: " . scalar(@failed) . " / $num_jobs failed, log is in $shown (Slurm job $slurm_id)\n";
  for my $n (@failed) {
    my $out = $array ? "$qdir/$name.$n.out" : "$qdir/$name.out";
    print STDERR "slurm.pl: job $n: " . subst($logfile, $n) . (-e subst($logfile, $n) ? "" : " (not written)")
      . "; Slurm's output: $out\n";
  }
  exit 1;
}
if ($sbatch_rc != 0) {
  print STDERR "slurm.pl: sbatch exited $sbatch_rc although every log ends with code 0 (Slurm job $slurm_id): "
    . join(" ", @sbatch_out) . "\n";
  exit 1;
}
exit 0;
