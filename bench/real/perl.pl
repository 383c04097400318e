#!/usr/bin/env perl
# A real interpreter for the bench's `real` group (scripts/bench.mjs): 16 MiB of data; on
# SIGTERM it checks it and writes PASS (or why not) to --out. Ready: --out.ready exists.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
my ($out) = map { $ARGV[$_ + 1] } grep { $ARGV[$_] eq '--out' } 0 .. $#ARGV;
my $data = join('', map { chr(($_ * 131 + 7) % 256) } 0 .. 65535) x 256;
my $digest = md5_hex($data);
my $pid = $$;
$SIG{TERM} = sub {
    my @why;
    push @why, 'data changed' if md5_hex($data) ne $digest;
    open(my $f, '>', $out) or die;
    print $f (@why ? "FAIL @why\n" : "PASS\n");
    close $f;
};
open(my $r, '>', "$out.ready") or die;
close $r;
select(undef, undef, undef, 0.05) while 1;
