#!/usr/bin/env perl
# Kaldi's run.pl contract: run a command, or an array of N jobs, on this machine, one log per job.
#
#   utils/run.pl [options] [JOB=1:N] <log-file> <command> [args...]
#
# "JOB" (any NAME=A:B) is replaced by the job's number in the log-file name and in every argument. Each
# log starts with the command line, ends with "# Accounting: time=<s> threads=<n>" and
# "# Ended (code <rc>) at <date>, elapsed time <s> seconds". The command runs under bash, so one quoted
# argument may be a pipeline. At most --max-jobs-run jobs run at once (default: all of them, as Kaldi's).
# Exit status 0 when every job succeeded; otherwise "run.pl: K / N failed, log is in <log>" and 1.
#
# Options (those of utils/slurm.pl are accepted and ignored, so one command line serves both):
#   --max-jobs-run N    jobs running at once
#   --num-threads N     written to the Accounting line only (the command sets its own threads)
#   --mem M, --gpu N, --time T, --partition P, --account A, --qos Q   ignored locally
use strict;
use warnings;
use POSIX ":sys_wait_h";
use File::Basename qw(dirname);
use File::Path qw(make_path);
use Time::HiRes qw(time);

my $max_jobs_run = 0;
my $num_threads = 1;
my %ignored = map { $_ => 1 } qw(--mem --gpu --time --partition --account --qos);

sub usage {
  print STDERR "Usage: $0 [--max-jobs-run N] [--num-threads N] [JOB=1:N] <log-file> <command> [args...]\n"
    . "e.g.: $0 --max-jobs-run 4 JOB=1:8 exp/log/feats.JOB.log python local/align.py features --job JOB\n";
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
  } elsif (!$ignored{$opt}) {
    die "$0: unknown option $opt\n";
  }
}

my ($jobname, $jobstart, $jobend) = (undef, 1, 1);
if (@ARGV && $ARGV[0] =~ m/^([\w_][\w\d_]*)=(\d+):(\d+)$/) {
  ($jobname, $jobstart, $jobend) = ($1, $2, $3);
  die "$0: invalid job range $ARGV[0] ($jobstart > $jobend)\n" if $jobstart > $jobend;
  die "$0: job numbers start at 1, got $ARGV[0]\n" if $jobstart < 1;
  shift @ARGV;
} elsif (@ARGV && $ARGV[0] =~ m/=/) {
  die "$0: cannot parse job range '$ARGV[0]' (expected e.g. JOB=1:10)\n";
}
usage() if @ARGV < 2;
my $logfile = shift @ARGV;
if (defined $jobname && $logfile !~ m/$jobname/ && $jobend > $jobstart) {
  die "$0: the log file '$logfile' must contain $jobname when running jobs $jobstart..$jobend\n";
}

# One shell word per argument: left bare when it is safe, single-quoted otherwise.
sub shell_quote {
  my ($w) = @_;
  return $w if $w =~ m/^[\w\/.,:=+%@-]+$/;
  $w =~ s/'/'\\''/g;
  return "'$w'";
}

sub subst {
  my ($s, $n) = @_;
  $s =~ s/$jobname/$n/g if defined $jobname;
  return $s;
}

sub start_job {
  my ($n) = @_;
  my $log = subst($logfile, $n);
  my $cmd = join(" ", map { @ARGV == 1 ? subst($_, $n) : shell_quote(subst($_, $n)) } @ARGV);
  my $dir = dirname($log);
  make_path($dir) unless -d $dir;
  my $pid = fork();
  die "$0: fork failed: $!\n" unless defined $pid;
  if ($pid == 0) {
    open(my $fh, ">", $log) or die "$0: cannot write log file $log: $!\n";
    print $fh "# $cmd \n# Started at " . localtime() . "\n#\n";
    close($fh);
    my $t0 = time();
    my $rc = system("bash", "-c", "( $cmd ) >> " . shell_quote($log) . " 2>&1");
    my $code = $rc == -1 ? 127 : ($rc & 127 ? 128 + ($rc & 127) : $rc >> 8);
    my $elapsed = int(time() - $t0 + 0.5);
    open($fh, ">>", $log) or die "$0: cannot append to log file $log: $!\n";
    print $fh "# Accounting: time=$elapsed threads=$num_threads\n";
    print $fh "# Ended (code $code) at " . localtime() . ", elapsed time $elapsed seconds\n";
    close($fh);
    POSIX::_exit($code == 0 ? 0 : 1);
  }
  return $pid;
}

my (%running, @failed);
my $num_jobs = $jobend - $jobstart + 1;
my $limit = $max_jobs_run > 0 ? $max_jobs_run : $num_jobs;
# Ctrl-C or a kill of run.pl stops the jobs it started (they run in its process group).
$SIG{INT} = $SIG{TERM} = sub { kill("TERM", keys %running); exit 1; };
for (my $n = $jobstart; $n <= $jobend; $n++) {
  while (scalar(keys %running) >= $limit) {
    my $pid = waitpid(-1, 0);
    next unless exists $running{$pid};
    push(@failed, $running{$pid}) if $? != 0;
    delete $running{$pid};
  }
  $running{start_job($n)} = $n;
}
while (%running) {
  my $pid = waitpid(-1, 0);
  last if $pid < 0;
  next unless exists $running{$pid};
  push(@failed, $running{$pid}) if $? != 0;
  delete $running{$pid};
}

if (@failed) {
  @failed = sort { $a <=> $b } @failed;
  my $shown = $num_jobs == 1 ? subst($logfile, $failed[0]) : subst($logfile, "*");
  print STDERR "run.pl: " . scalar(@failed) . " / $num_jobs failed, log is in $shown\n";
  print STDERR "run.pl: failed job" . (@failed > 1 ? "s" : "") . ": "
    . join(", ", map { "$_ (" . subst($logfile, $_) . ")" } @failed) . "\n" if $num_jobs > 1;
  exit 1;
}
exit 0;
