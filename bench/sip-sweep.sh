#!/usr/bin/env bash
# bench/sip-sweep.sh: the SIP call-rate sweep of docs/PERFORMANCE.md
# ("SIP call switch"). Run it from the repository root:
#
#   bench/sip-sweep.sh
#
# Parts (PARTS, default all, in this order):
#   kamailio  SIPp uac -> Kamailio (bench/kamailio/kamailio.cfg) -> SIPp uas
#   ipcsd     SIPp uac with digest auth (bench/kamailio/uac-digest.xml) ->
#             ipcsd (-trunk to the same SIPp uas) -> SIPp uas, at the same
#             rates, interleaved with kamailio (run k of rate R: kamailio
#             then ipcsd, the other way round on even runs), so both see
#             the same machine load
#   sipload   bench/sipload (sipgo UAC) -> ipcsd -> SIPp uas: setup p50/p99
#             from the driver, failures by status, ipcsd CPU and RSS
#   profile   (PROFILE=1) a CPU profile of ipcsd while sipload offers
#             PROFILE_RATE calls/s (go tool pprof -top)
#   memory    sipload holds MEM_CALLS live calls through ipcsd and reads its
#             RSS before the first call and at the plateau: KiB per live
#             call (with PROFILE=1, a heap profile at the plateau)
#
# Each rate of the ipcsd parts, the profile and the memory run get a fresh
# ipcsd on a fresh SQLite file, so one overloaded step cannot leave calls
# or garbage to the next. Five seconds after each, the script records
# ipcs_calls_active ("left up"): calls the switch still holds with no load.
#
# Everything listens on 127.0.0.1 only, on ports from BASE_PORT up. Every
# load generator is bounded by a call count (-m) and a timeout; every
# process this script starts is stopped on exit. Kamailio runs only as a
# foreground child with this config, never as a system service.
#
# Knobs (environment):
#   RATES="200 500 1000 1500"  calls/s offered, in order
#   DURATION=10                seconds each rate is offered (at most 20)
#   HOLD_MS=1000               answered call length before BYE
#   RUNS=1                     SIPp runs per rate and system (interleaved)
#   PARTS="kamailio ipcsd sipload profile memory"
#   PROFILE=0 PROFILE_RATE=1000   1: run the profile part (and heap profile)
#   MEM_CALLS=1500 MEM_RAMP=300 MEM_HOLD=40   live calls, ramp calls/s,
#       plateau seconds (past 32 s the calls' INVITE transactions are gone)
#   PHONES="phone-[101-104]" PASSWORD=demo PINS="1001" TO="+13125550123"
#       identities (sipload syntax: comma lists, NAME[FIRST-LAST] ranges)
#   TOPUP=5000.00 TOPUP_ACCOUNTS=r-1001   trust transfer (admin API) into
#       each account at each ipcsd start, so that funds never limit the load
#       (every live call holds a 5-minute reservation); TOPUP="" skips it
#   ADMIN_PASSWORD=admin       ipcsd's admin password (login, pprof)
#   IPCSD_ARGS=""              extra ipcsd flags (e.g. "-directory bench.yaml")
#   KAM_CHILDREN=2 KAM_SHM=1024   Kamailio UDP workers, shared memory MiB
#       (tm keeps each transaction a few seconds: 256 MiB ran out at 2,000/s)
#   BASE_PORT=16000            first port used (16000..16031)
#   OUT=""                     results folder (default: a new /tmp folder)
#
# "socket drops" are the datagrams the system under test's own UDP socket
# dropped on a full receive buffer during a run (/proc/net/udp); results.tsv
# also has the machine-wide count (/proc/net/snmp RcvbufErrors).
#
# Output: the tables on stdout, and in $OUT: summary.md (the tables for
# docs/PERFORMANCE.md), results.tsv, left.tsv, sipload.jsonl, profiles and
# every tool's logs.
set -euo pipefail

RATES=${RATES:-"200 500 1000 1500"}
DURATION=${DURATION:-10}
HOLD_MS=${HOLD_MS:-1000}
RUNS=${RUNS:-1}
PARTS=${PARTS:-"kamailio ipcsd sipload profile memory"}
PROFILE=${PROFILE:-0}
PROFILE_RATE=${PROFILE_RATE:-1000}
MEM_CALLS=${MEM_CALLS:-1500}
MEM_RAMP=${MEM_RAMP:-300}
MEM_HOLD=${MEM_HOLD:-40}
PHONES=${PHONES:-"phone-[101-104]"}
PASSWORD=${PASSWORD:-demo}
PINS=${PINS:-1001}
TO=${TO:-"+13125550123"}
TOPUP=${TOPUP:-5000.00}
TOPUP_ACCOUNTS=${TOPUP_ACCOUNTS:-r-1001}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin}
IPCSD_ARGS=${IPCSD_ARGS:-}
KAM_CHILDREN=${KAM_CHILDREN:-2}
KAM_SHM=${KAM_SHM:-1024}
BASE_PORT=${BASE_PORT:-16000}

die() { echo "sip-sweep: $*" >&2; exit 1; }
say() { echo "sip-sweep: $*" >&2; }

[[ -f go.mod && -d bench/kamailio ]] || die "run from the repository root"
[[ $DURATION =~ ^[0-9]+$ ]] && (( DURATION >= 1 && DURATION <= 20 )) || die "DURATION must be 1..20 seconds"
[[ $HOLD_MS =~ ^[0-9]+$ ]] && (( HOLD_MS <= 60000 )) || die "HOLD_MS must be 0..60000"
[[ $RUNS =~ ^[0-9]+$ ]] && (( RUNS >= 1 && RUNS <= 5 )) || die "RUNS must be 1..5"
for r in $RATES $PROFILE_RATE $MEM_RAMP; do
	[[ $r =~ ^[0-9]+$ ]] && (( r >= 1 && r <= 10000 )) || die "rate $r must be 1..10000"
done
[[ $MEM_CALLS =~ ^[0-9]+$ && $MEM_HOLD =~ ^[0-9]+$ ]] && (( MEM_CALLS >= 1 && MEM_CALLS <= 20000 && MEM_HOLD <= 120 )) \
	|| die "MEM_CALLS must be 1..20000 and MEM_HOLD ≤ 120"
[[ $BASE_PORT =~ ^[0-9]+$ ]] && (( BASE_PORT >= 1024 && BASE_PORT <= 65000 )) || die "BASE_PORT must be 1024..65000"
has() { [[ " $PARTS " == *" $1 "* ]]; }
command -v sipp >/dev/null || die "sipp not found (Debian package sip-tester)"
if has kamailio; then
	command -v kamailio >/dev/null || die "kamailio not found (apt-get install -y kamailio)"
fi
NEED_IPCSD=0
for p in ipcsd sipload memory; do has "$p" && NEED_IPCSD=1; done
[[ $PROFILE == 1 ]] && has profile && NEED_IPCSD=1

OUT=${OUT:-$(mktemp -d /tmp/sip-sweep.XXXXXX)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
KAM_PORT=$((BASE_PORT))
UAS_PORT=$((BASE_PORT + 10))
UAC_PORT=$((BASE_PORT + 20))
SIP_PORT=$((BASE_PORT + 30))
HTTP_PORT=$((BASE_PORT + 31))
METRICS="http://127.0.0.1:$HTTP_PORT/metrics"

# ---- child processes: started here, stopped here ----------------------
PIDS=()
# alive PID: running (a child that exited stays a zombie until waited for,
# and kill -0 still succeeds on it).
alive() {
	local st
	st=$(awk '{sub(/^.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z ]]
}

# cleanup stops them newest first (ipcsd hangs its calls up through the
# SIPp uas before that stops), each with SIGTERM, then SIGKILL after 15 s.
cleanup() {
	local i p
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		p=${PIDS[i]}
		kill "$p" 2>/dev/null || continue
		for _ in $(seq 150); do alive "$p" || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# forget PID: it has been stopped; never signal it again (PIDs are reused).
forget() {
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# wait_udp PORT: until something listens on 127.0.0.1:PORT/udp (5 s).
wait_udp() {
	for _ in $(seq 50); do
		ss -Hlnu "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1" && return 0
		sleep 0.1
	done
	return 1
}

# cpu_ticks PID: utime+stime (1/100 s) of PID and its children.
cpu_ticks() {
	local t=0 p
	for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
		[[ -r /proc/$p/stat ]] || continue
		t=$((t + $(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
	done
	echo "$t"
}

# udp_drops: the machine's UDP receive-buffer drops so far (RcvbufErrors).
udp_drops() {
	awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c }' /proc/net/snmp
}

# sock_drops PORT: drops of the UDP socket(s) bound to local PORT
# (/proc/net/udp, last column): datagrams that socket's owner lost.
sock_drops() {
	awk -v want="$(printf ':%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == want { d += $NF } END { print d + 0 }' \
		/proc/net/udp /proc/net/udp6 2>/dev/null
}

# admin_token: a bearer token of ipcsd's admin (login API).
admin_token() {
	curl -fsS -X POST -H 'Content-Type: application/json' \
		-d "{\"role\":\"admin\",\"user\":\"admin\",\"secret\":\"$ADMIN_PASSWORD\"}" \
		"http://127.0.0.1:$HTTP_PORT/api/v1/login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p'
}

# start_sipp_bg LOG ARGS...: SIPp in the background; records its PID.
start_sipp_bg() {
	local log=$1 pid
	shift
	# SIPp -bg exits non-zero even when the child started: trust the PID.
	sipp "$@" -bg > "$log" 2>&1 || true
	pid=$(grep -o 'PID=\[[0-9]*' "$log" | tr -dc 0-9)
	[[ -n $pid ]] || die "sipp $* did not start: $(cat "$log")"
	PIDS+=("$pid")
	sleep 0.3
	alive "$pid" || die "sipp $* exited at once: $(cat "$log")"
}

# expand LIST: a sipload-style list with NAME[FIRST-LAST] ranges, one a line.
expand() {
	local item items n
	IFS=',' read -ra items <<< "$1"
	for item in "${items[@]}"; do
		if [[ $item =~ ^(.*)\[([0-9]+)-([0-9]+)\](.*)$ ]]; then
			for n in $(seq -w "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"); do
				echo "${BASH_REMATCH[1]}$n${BASH_REMATCH[4]}"
			done
		else
			echo "$item"
		fi
	done
}

# Refuse to start over an earlier run still holding the ports.
for p in "$KAM_PORT" "$UAS_PORT" "$UAC_PORT" "$SIP_PORT" "$HTTP_PORT"; do
	if ss -Hlnut "sport = :$p" 2>/dev/null | grep -q .; then
		die "port $p is in use (an earlier run still up? BASE_PORT=$BASE_PORT)"
	fi
done

# ---- build ---------------------------------------------------------------
say "results in $OUT"
go build -o "$OUT/sipload" ./bench/sipload
if (( NEED_IPCSD )); then
	go build -o "$OUT/ipcsd" ./cmd/ipcsd
fi

# ---- the shared far end: SIPp uas (bench/kamailio/uas.xml) --------------
start_sipp_bg "$OUT/uas.log" -sf bench/kamailio/uas.xml -i 127.0.0.1 -p "$UAS_PORT" \
	-buff_size 4194304 -trace_err -error_file "$OUT/uas_errors.log"
wait_udp "$UAS_PORT" || die "SIPp uas did not start"

# ---- Kamailio -------------------------------------------------------------
KPID=""
if has kamailio; then
	mkdir -p "$OUT/kamailio-run"
	kamailio -f bench/kamailio/kamailio.cfg -DD -E -m "$KAM_SHM" -M 16 -Y "$OUT/kamailio-run" \
		-A "CHILDREN=$KAM_CHILDREN" \
		-A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A "UAS=\"sip:127.0.0.1:$UAS_PORT\"" \
		> "$OUT/kamailio.log" 2>&1 &
	KPID=$!
	PIDS+=("$KPID")
	wait_udp "$KAM_PORT" || die "kamailio did not start: $(tail -5 "$OUT/kamailio.log")"
	say "kamailio $(kamailio -v | head -1 | awk '{print $3}') on 127.0.0.1:$KAM_PORT, $KAM_CHILDREN workers"
fi

# ---- ipcsd: a fresh daemon for each step ----------------------------------
IPID=""
# start_ipcsd TAG: ipcsd on a fresh SQLite file in $OUT/ipcsd-TAG, its
# accounts topped up; fails when it answers no call (switch not wired).
start_ipcsd() {
	local dir="$OUT/ipcsd-$1" probe tok acct
	mkdir -p "$dir"
	# shellcheck disable=SC2086
	"$OUT/ipcsd" -sip "127.0.0.1:$SIP_PORT" -http "127.0.0.1:$HTTP_PORT" \
		-db "$dir/ipcs.db" -secret-file "$dir/ipcs.secret" -record-dir "$dir/recordings" \
		-trunk "sip:127.0.0.1:$UAS_PORT" -admin-password "$ADMIN_PASSWORD" -log-level warn \
		$IPCSD_ARGS > "$dir/ipcsd.log" 2>&1 &
	IPID=$!
	PIDS+=("$IPID")
	for _ in $(seq 100); do
		curl -fsS "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break
		alive "$IPID" || die "ipcsd exited: $(tail -5 "$dir/ipcsd.log")"
		sleep 0.1
	done
	# The demo's PIN 1001 has $20.00 and every live call holds a 5-minute
	# reservation ($0.30): top up from trust so funds never limit the load.
	if [[ -n $TOPUP && -n $TOPUP_ACCOUNTS ]]; then
		tok=$(admin_token)
		for acct in ${TOPUP_ACCOUNTS//,/ }; do
			curl -fsS -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
				-d "{\"amount\":\"$TOPUP\",\"memo\":\"sip-sweep top-up\",\"idempotency_key\":\"sip-sweep-$acct\"}" \
				"http://127.0.0.1:$HTTP_PORT/api/v1/accounts/$acct/trust-transfers" >/dev/null \
				|| die "top-up of $acct failed"
		done
	fi
	# Is the switch wired? One answered call says so.
	probe=$("$OUT/sipload" -target "127.0.0.1:$SIP_PORT" -rates 2 -duration 1s -hold 100ms -quiet \
		-phones "$PHONES" -password "$PASSWORD" -pin "$PINS" -to "$TO" -label probe 2>"$dir/probe.err" | grep '^{' || true)
	[[ -n $probe && $probe != *'"completed":0,'* ]] && return 0
	say "ipcsd answers no call on 127.0.0.1:$SIP_PORT (switch not wired yet?): ${probe:-no answer}"
	return 1
}

# stop_ipcsd TAG RATE: record the calls ipcsd still holds 5 s after the
# load stopped (left.tsv), then stop it (SIGTERM: it hangs those up).
stop_ipcsd() {
	local left=""
	sleep 5
	left=$(curl -fsS "$METRICS" 2>/dev/null | awk '$1 == "ipcs_calls_active" {print $2}' || true)
	printf '%s\t%s\t%s\n' "$1" "$2" "${left:--}" >> "$OUT/left.tsv"
	[[ ${left:-0} == 0 ]] || say "ipcsd still holds $left calls 5 s after the $1 step at $2 calls/s"
	kill "$IPID" 2>/dev/null || true
	for _ in $(seq 200); do alive "$IPID" || break; sleep 0.1; done
	kill -9 "$IPID" 2>/dev/null || true
	wait "$IPID" 2>/dev/null || true
	forget "$IPID"
	IPID=""
}

# sl ARGS...: the sipload driver against the current ipcsd.
sl() {
	"$OUT/sipload" -target "127.0.0.1:$SIP_PORT" -pid "$IPID" -metrics "$METRICS" \
		-phones "$PHONES" -password "$PASSWORD" -pin "$PINS" -to "$TO" -json "$OUT/sipload.jsonl" "$@"
}

IPCSD_READY=0
printf 'part\trate\tleft\n' > "$OUT/left.tsv"
if (( NEED_IPCSD )); then
	if start_ipcsd check; then
		IPCSD_READY=1
		say "ipcsd (commit $(git log -1 --format=%h 2>/dev/null || echo '?')) answers on 127.0.0.1:$SIP_PORT"
	fi
	kill "$IPID" 2>/dev/null || true
	wait "$IPID" 2>/dev/null || true
	forget "$IPID"
fi

# ---- SIPp UAC runs -----------------------------------------------------------
# SIPp -inf file for the digest UAC: phone; credentials; PIN*DEST.
INF="$OUT/phones.csv"
mapfile -t PH < <(expand "$PHONES")
mapfile -t PN < <(expand "$PINS")
mapfile -t TOS < <(expand "$TO")
{
	echo SEQUENTIAL
	n=$(( ${#PH[@]} > ${#PN[@]} ? ${#PH[@]} : ${#PN[@]} ))
	n=$(( n > ${#TOS[@]} ? n : ${#TOS[@]} ))
	for ((i = 0; i < n; i++)); do
		p=${PH[i % ${#PH[@]}]}
		echo "$p;[authentication username=$p password=$PASSWORD];${PN[i % ${#PN[@]}]}*${TOS[i % ${#TOS[@]}]}"
	done
} > "$INF"
UAC_SCENARIO=$PWD/bench/kamailio/uac-digest.xml

# run_uac NAME SUT_PID SUT_PORT RATE RUN -- SIPP_ARGS...: one bounded SIPp
# uac run; appends a row to results.tsv. calls/s = successful calls / the
# send window: N/R, or longer if SIPp took longer to start all N calls
# (from its per-second statistics). udp_drops is machine-wide, sut_drops
# the system under test's own socket.
printf 'system\trate\trun\tcreated\tok\tfailed\tfail_pct\tcps\tp50_ms\tp99_ms\tcpu_pct\tcpu_ms_per_call\tudp_drops\tsut_drops\n' > "$OUT/results.tsv"
run_uac() {
	local name=$1 sut=$2 port=$3 rate=$4 run=$5
	shift 6
	local dir="$OUT/$name-$rate-$run" n=$((rate * DURATION)) t0 t1 c0 c1 d0 d1 s0 s1 rtt p50=- p99=-
	mkdir -p "$dir"
	d0=$(udp_drops)
	s0=$(sock_drops "$port")
	c0=$(cpu_ticks "$sut")
	t0=$(date +%s%N)
	(cd "$dir" && sipp "$@" -i 127.0.0.1 -p "$UAC_PORT" -r "$rate" -rp 1000 -m "$n" -d "$HOLD_MS" \
		-timeout $((DURATION + HOLD_MS / 1000 + 40))s -timeout_error -nostdin -buff_size 4194304 \
		-trace_stat -stf stat.csv -fd 1 -trace_rtt -rtt_freq 100 -trace_err > sipp.out 2>&1) || true
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$sut")
	d1=$(udp_drops)
	s1=$(sock_drops "$port")
	rtt=$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1 || true)
	if [[ -n $rtt ]]; then
		read -r p50 p99 < <(awk -F';' 'NR > 1 && $3 == 1 {print $2}' "$rtt" | sort -n |
			awk '{a[NR] = $1} END {if (NR) print a[int(NR * 0.50 + 0.999999)], a[int(NR * 0.99 + 0.999999)]; else print "- -"}')
	fi
	awk -F';' -v name="$name" -v rate="$rate" -v run="$run" \
		-v ticks=$((c1 - c0)) -v wall_ns=$((t1 - t0)) -v p50="$p50" -v p99="$p99" -v offered="$n" \
		-v drops=$((d1 - d0)) -v sdrops=$((s1 - s0)) '
		function epoch(s,   p) { split(s, p, "\t"); return p[3] + 0 }
		NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
		{
			last = $0
			# The first per-second row by which every call was started.
			if (!allin && $col["TotalCallCreated"] + 0 >= offered) {
				allin = epoch($col["CurrentTime"]) - epoch($col["StartTime"])
			}
		}
		END {
			split(last, f, ";")
			created = f[col["TotalCallCreated"]] + 0
			ok = f[col["SuccessfulCall(C)"]] + 0
			failed = f[col["FailedCall(C)"]] + 0
			win = offered / rate
			if (allin > win + 1) win = allin
			cpu = ticks * 10 / (wall_ns / 1e6) * 100
			printf "%s\t%d\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%s\t%s\t%.0f\t%.3f\t%d\t%d\n", name, rate, run, created, ok, failed,
				100 * (offered - ok) / offered, ok / win,
				p50, p99, cpu, (ok ? ticks * 10 / ok : 0), drops, sdrops
		}' "$dir/stat.csv" >> "$OUT/results.tsv" 2>/dev/null \
		|| printf '%s\t%d\t%d\t0\t0\t0\t100\t0\t-\t-\t0\t0\t%d\t%d\n' "$name" "$rate" "$run" $((d1 - d0)) $((s1 - s0)) >> "$OUT/results.tsv"
	tail -1 "$OUT/results.tsv" | awk -F'\t' '{printf "sip-sweep: %-8s rate %5d run %d: ok %d/%d (fail %s%%), %s calls/s, setup p50/p99 %s/%s ms, SUT CPU %s%% (%s ms/call), UDP drops %s (SUT socket %s)\n", $1, $2, $3, $5, $4, $7, $8, $9, $10, $11, $12, $13, $14}' >&2
	sleep 2
}
run_kamailio() { run_uac kamailio "$KPID" "$KAM_PORT" "$1" "$2" -- -sn uac "127.0.0.1:$KAM_PORT"; }
run_ipcsd() { run_uac ipcsd "$IPID" "$SIP_PORT" "$1" "$2" -- -sf "$UAC_SCENARIO" -inf "$INF" "127.0.0.1:$SIP_PORT"; }

do_k=0 do_i=0
has kamailio && do_k=1
has ipcsd && (( IPCSD_READY )) && do_i=1
for rate in $RATES; do
	(( do_k || do_i )) || break
	(( do_i )) && { start_ipcsd "sipp-$rate" || die "ipcsd stopped answering"; }
	for ((run = 1; run <= RUNS; run++)); do
		if (( run % 2 == 1 )); then
			(( do_k )) && run_kamailio "$rate" "$run"
			(( do_i )) && run_ipcsd "$rate" "$run"
		else
			(( do_i )) && run_ipcsd "$rate" "$run"
			(( do_k )) && run_kamailio "$rate" "$run"
		fi
	done
	(( do_i )) && stop_ipcsd sipp "$rate"
done

# ---- sipload -> ipcsd ---------------------------------------------------------
if has sipload && (( IPCSD_READY )); then
	for rate in $RATES; do
		start_ipcsd "sipload-$rate" || die "ipcsd stopped answering"
		sl -label ipcsd -rates "$rate" -duration "${DURATION}s" -hold "${HOLD_MS}ms" \
			>> "$OUT/sipload.txt" 2>>"$OUT/sipload.err" || true
		grep '"mode":"rate"' "$OUT/sipload.txt" | tail -1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("sip-sweep: sipload  rate %5d: ok %d/%d (fail %.3f%%), %.1f calls/s, setup p50/p99 %.1f/%.1f ms, ipcsd CPU %s%%, RSS %.0f MiB" % (
    r["rate"], r["completed"], r["attempted"], r["fail_pct"], r["cps"], r["setup_p50_ms"], r["setup_p99_ms"],
    r.get("target_cpu_pct", "-"), r.get("target_rss_kib", 0) / 1024))' >&2 || true
		stop_ipcsd sipload "$rate"
	done
fi

# ---- profile ------------------------------------------------------------------
if [[ $PROFILE == 1 ]] && has profile && (( IPCSD_READY )); then
	start_ipcsd profile || die "ipcsd stopped answering"
	secs=$((DURATION > 12 ? 10 : (DURATION > 3 ? DURATION - 2 : 1)))
	(
		sleep 2
		tok=$(admin_token)
		curl -fsS -H "Authorization: Bearer $tok" -o "$OUT/ipcsd-cpu.pprof" \
			"http://127.0.0.1:$HTTP_PORT/debug/pprof/profile?seconds=$secs" \
			&& go tool pprof -top -nodecount=40 "$OUT/ipcsd" "$OUT/ipcsd-cpu.pprof" > "$OUT/ipcsd-cpu-top.txt" 2>&1 \
			&& go tool pprof -top -cum -nodecount=60 "$OUT/ipcsd" "$OUT/ipcsd-cpu.pprof" > "$OUT/ipcsd-cpu-cum.txt" 2>&1
	) &
	PROF_PID=$!
	PIDS+=("$PROF_PID")
	sl -label ipcsd-profile -rates "$PROFILE_RATE" -duration "${DURATION}s" -hold "${HOLD_MS}ms" \
		> "$OUT/sipload-profile.txt" 2>"$OUT/sipload-profile.err" || true
	wait "$PROF_PID" || true
	forget "$PROF_PID"
	say "profile at $PROFILE_RATE calls/s: $OUT/ipcsd-cpu-top.txt"
	stop_ipcsd profile "$PROFILE_RATE"
fi

# ---- memory per live call -----------------------------------------------------
if has memory && (( IPCSD_READY )); then
	start_ipcsd memory || die "ipcsd stopped answering"
	HEAP_PID=""
	if [[ $PROFILE == 1 ]]; then
		# A heap profile in the middle of the plateau: where live calls' memory is.
		(
			sleep $((MEM_CALLS / MEM_RAMP + MEM_HOLD / 2 + 3))
			tok=$(admin_token)
			# The Go runtime's own split: live heap, stacks, GC headroom.
			curl -fsS "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^(go_memstats_|go_goroutines|process_resident|go_gc_gogc|ipcs_calls_active)' \
				> "$OUT/ipcsd-memstats.txt" || true
			curl -fsS -H "Authorization: Bearer $tok" -o "$OUT/ipcsd-heap.pprof" \
				"http://127.0.0.1:$HTTP_PORT/debug/pprof/heap" \
				&& go tool pprof -top -sample_index=inuse_space -nodecount=40 "$OUT/ipcsd" "$OUT/ipcsd-heap.pprof" \
					> "$OUT/ipcsd-heap-top.txt" 2>&1
		) &
		HEAP_PID=$!
		PIDS+=("$HEAP_PID")
	fi
	sl -label ipcsd-memory -concurrent "$MEM_CALLS" -rates "$MEM_RAMP" -hold "${MEM_HOLD}s" \
		-setup-timeout 10s > "$OUT/memory.txt" 2>"$OUT/memory.err" || true
	if [[ -n $HEAP_PID ]]; then
		wait "$HEAP_PID" || true
		forget "$HEAP_PID"
	fi
	grep -A7 '^live calls held' "$OUT/memory.txt" | sed 's/^/sip-sweep: /' >&2 || true
	stop_ipcsd memory "$MEM_RAMP"
fi

# ---- summary --------------------------------------------------------------------
{
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "Offered: ${DURATION}s per rate, calls held ${HOLD_MS} ms, $RUNS SIPp run(s) per rate and system, interleaved; loopback UDP"
	echo
	if (( do_k || do_i )); then
		echo "SIPp uac -> {Kamailio | ipcsd} -> SIPp uas (setup p50/p99 per run, SIPp's 1 ms resolution; CPU % of one core):"
		echo
		echo "| rate/s | Kamailio calls/s | fail % | setup p50/p99 ms | CPU % | CPU ms/call | socket drops | ipcsd calls/s | fail % | setup p50/p99 ms | CPU % | CPU ms/call | socket drops | left up | ipcsd/Kamailio calls/s | ipcsd/Kamailio CPU per call |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '
			FNR == 1 { next }
			FILENAME ~ /left.tsv$/ { if ($1 == "sipp") left[$2] = $3; next }
			{ k = $2; n[$1, k]++; rates[k] = 1
			  cps[$1, k] += $8; fail[$1, k] += $7; cpu[$1, k] += $11; cpc[$1, k] += $12; drops[$1, k] += $14
			  p50[$1, k] = p50[$1, k] (p50[$1, k] == "" ? "" : ",") $9; p99[$1, k] = p99[$1, k] (p99[$1, k] == "" ? "" : ",") $10 }
			function cell(s, k) {
				if (!n[s, k]) return "- | - | - | - | - | -"
				return sprintf("%.0f | %.3f | %s / %s | %.0f | %.3f | %d", cps[s, k] / n[s, k], fail[s, k] / n[s, k],
					p50[s, k], p99[s, k], cpu[s, k] / n[s, k], cpc[s, k] / n[s, k], drops[s, k])
			}
			END {
				m = 0; for (k in rates) r[++m] = k + 0
				for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
				for (i = 1; i <= m; i++) {
					k = r[i]
					ratio = (n["kamailio", k] && n["ipcsd", k] && cps["kamailio", k] > 0) ? sprintf("%.2f", (cps["ipcsd", k] / n["ipcsd", k]) / (cps["kamailio", k] / n["kamailio", k])) : "-"
					cratio = (n["kamailio", k] && n["ipcsd", k] && cpc["kamailio", k] > 0) ? sprintf("%.1f×", cpc["ipcsd", k] / cpc["kamailio", k]) : "-"
					printf "| %d | %s | %s | %s | %s | %s |\n", k, cell("kamailio", k), cell("ipcsd", k), (k in left ? left[k] : "-"), ratio, cratio
				}
			}' "$OUT/left.tsv" "$OUT/results.tsv"
		echo
	fi
	if [[ -s $OUT/sipload.jsonl ]]; then
		python3 - "$OUT/sipload.jsonl" "$OUT/left.tsv" <<'PY'
import json, sys
left = {}
for line in open(sys.argv[2]):
    f = line.rstrip("\n").split("\t")
    if len(f) == 3:
        left[(f[0], f[1])] = f[2]
mem, head = [], False
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("mode") == "memory":
        mem.append(r)
    if r.get("mode") != "rate" or r.get("label") != "ipcsd":
        continue
    if not head:
        head = True
        print("sipload (sipgo UAC, digest auth) -> ipcsd -> SIPp uas; each rate on a fresh ipcsd:")
        print()
        print("| rate/s | attempted | completed | fail % | calls/s | setup p50 ms | setup p99 ms | ipcsd CPU % | ipcsd RSS MiB | socket drops | left up | driver CPU % | failures |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    f = " ".join("%s:%d" % kv for kv in sorted(r["failures"].items(), key=lambda kv: -kv[1])) or "-"
    cpu = r.get("target_cpu_pct")
    cpu = "-" if cpu is None else "%.0f" % cpu
    print("| %g | %d | %d | %.3f | %.0f | %.2f | %.2f | %s | %.0f | %d | %s | %.0f | %s |" % (
        r["rate"], r["attempted"], r["completed"], r["fail_pct"], r["cps"], r["setup_p50_ms"],
        r["setup_p99_ms"], cpu, r.get("target_rss_kib", 0) / 1024, r.get("target_socket_drops", -1),
        left.get(("sipload", "%g" % r["rate"]), "-"), r["driver_cpu_pct"], f))
for m in mem:
    f = " ".join("%s:%d" % kv for kv in sorted(m["failures"].items(), key=lambda kv: -kv[1]))
    print()
    print("Live-call memory (fresh ipcsd): %d of %d calls up (ipcs_calls_active %.0f), RSS %.1f -> %.1f MiB: "
          "**%.1f KiB RSS per live call** (Go heap in use %.1f KiB, %.2f goroutines per call); "
          "setup p50/p99 %.1f/%.1f ms; failures %d %s" % (
              m["live"], m["concurrent"], m["target_active"], m["rss_before_kib"] / 1024,
              m["rss_plateau_kib"] / 1024, m["kib_per_live_call"], m.get("heap_kib_per_live_call", 0),
              m.get("goroutines_per_live_call", 0), m["setup_p50_ms"], m["setup_p99_ms"], m["failed"], f))
PY
	fi
	for f in ipcsd-cpu-top ipcsd-heap-top; do
		[[ -s $OUT/$f.txt ]] || continue
		echo
		echo "$OUT/$f.txt, first lines:"
		echo
		sed -n '5,30p' "$OUT/$f.txt" | sed 's/^/    /'
	done
} > "$OUT/summary.md"
cat "$OUT/summary.md"
