#!/usr/bin/env bash
# Issue 5, real sockets: one uTP connection over loopback with the operating system's default
# UDP socket buffers on both ends (nothing set: net.core.rmem_default/wmem_default, 212,992
# bytes on Debian), ours against the reference libutp in the same run.
#
# usage: scripts/bench-default-buffers.sh [--size-mib N] [--runs N] [--ref-seconds S]
#                                         [--min-ratio R] [other scripts/bench-loopback.sh options]
#
# With these buffers a burst overflows the receiver's queue (RcvbufErrors) and the reference
# recovers each loss with a retransmission timeout of at least 1 s, so it moves a few MiB/s
# (../shared/peers.md). Cases, interleaved run by run: utpcat -> utpcat (--sockbuf 0) and
# examples/c/utp_netcat.c (-b 0) linked against our libutp.so, then the same program linked
# against the reference libutp.so. Each moves --size-mib (default 256) MiB, verified byte by
# byte. The reference's runs are stopped after --ref-seconds (default 20): a run stopped there
# counts with the bytes it delivered by then over those seconds (marked "capped"); at its few
# MiB/s every 256 MiB run is capped, so its rate is taken over a fixed 20 s, long enough to
# average over its 1 s timeouts (shorter runs that finish early vary more: 3.2-7.0 MiB/s
# at 64 MiB, 3.4-6.3 capped at 256 MiB, in the README's runs). Printed:
# every run with its RcvbufErrors increase, median [min-max], the ratios ours/reference, and
# a PASS/FAIL line per case of ours against median ratio >= --min-ratio (default 50, issue 5;
# --min-ratio 0 prints the ratios without judging them);
# the exit status is non-zero on a FAIL or a failed run. Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash scripts/bench-loopback.sh --sockbuf 0 --cases utpcat,ours-c,ref-c --size-mib 256 \
    --runs 5 --ref-seconds 20 --timeout 60 --min-ratio 50 "$@"
