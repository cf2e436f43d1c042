// Command sipload drives SIP call load at ipcs's call switch (or at any
// SIP peer on this machine) and measures what it gets back. It is the
// sipgo-based half of the SIP benchmark in docs/PERFORMANCE.md ("SIP call
// switch"); SIPp and Kamailio make the other half (bench/sip-sweep.sh).
//
// It has three modes, which one process can combine:
//
//   - Rate sweep (-target with -rates): for each rate R it places R calls a
//     second for -duration. Each call is a housing phone's call: INVITE to
//     PIN*DESTINATION, the 401 challenge answered with a digest (MD5 or
//     SHA-256, RFC 8760) on a second INVITE, 200, ACK, -hold, BYE, 200.
//     Per rate it reports calls attempted, answered and failed (by final
//     status or cause), the calls/s achieved, setup latency p50/p99 (first
//     INVITE sent to 200 received, auth round trip included), its own CPU
//     and, given -pid or -metrics, the target's CPU and RSS.
//   - Live-call memory (-target with -concurrent K): ramps up to K answered
//     calls, holds all of them for -hold, and reads the target's resident
//     memory before the first call and at the plateau: the difference over
//     K is the memory per live call (target ≤ 32 KiB).
//   - Trunk (-uas ADDR): a UAS that answers every INVITE with 200 at once
//     (optionally 180 first) and every BYE with 200, so ipcsd's outbound leg
//     has a far end (ipcsd -trunk sip:ADDR).
//
// Every address must be on loopback: the driver refuses any other target,
// listen address or metrics URL, so it cannot load a network it does not
// own. Counts and times are bounded (rates, durations, concurrency and a
// -lifetime cap on the whole run).
//
// Output: one JSON object per line on stdout for each rate step, memory run
// and trunk summary (lines start with '{'), then a human table. Progress
// goes to stderr.
//
// Example, against ipcsd's demo with SIPp's UAS as trunk:
//
//	sipp -sn uas -i 127.0.0.1 -p 15090 -bg -buff_size 4194304
//	ipcsd -sip 127.0.0.1:15060 -trunk sip:127.0.0.1:15090 -db /tmp/x/ipcs.db &
//	sipload -target 127.0.0.1:15060 -rates 200,500,1000 -duration 10s -hold 1s -pid $!
//	sipload -target 127.0.0.1:15060 -concurrent 1500 -rates 500 -hold 10s -pid $!
//
// # Concurrency
//
// main owns everything: a root context (signals and -lifetime) and the
// sweep, which starts one goroutine per call under a WaitGroup and waits for
// all of them before the next step. Calls past -max-inflight are not
// started; they count as failures ("driver-limit") so the driver never
// queues without bound. sipgo handlers (BYE or INFO from the peer, the
// trunk's INVITE and BYE) answer at once and never block: a BYE from the
// peer ends the call's dialog, which the call's goroutine is watching.
// The listeners run under the same WaitGroup discipline and stop when
// their context ends.
//
// # Errors
//
// A call's outcome is data, not an error: a final non-2xx status is
// counted under its code ("403", "503"), a setup past -setup-timeout as
// "timeout", a BYE not answered 200 as "bye-<status>" or "bye-timeout",
// and any other failure as "error" (the first few are logged). Only
// configuration and listen errors end the run, with exit status 1; exit
// status 2 means the run completed but some step missed -max-fail-pct.
package main
