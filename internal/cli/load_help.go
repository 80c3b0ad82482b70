package cli

// The help of load poll and load flow.
const (
	loadPollShort = "Poll the token endpoint for pending requests at a rate or as fast as possible"
	loadPollLong  = `Measure the token endpoint under load. Without --target it runs against the
bundled reference OP and mock device.

It starts --pending backchannel requests (default 500) for a user whose
device never answers (the first user with outcome never, or --user), then
polls the token endpoint for them round-robin at --rate (2000/s, 50/1m) or
as fast as --max-in-flight concurrent polls allow (--rate max, 32 by default).
authorization_pending and slow_down are the correct answers to such polls
and count as expected, not as errors (vegeta itself counts every 4xx as an
error). The reference OP enforces the interval per auth_req_id, so at --rate
max nearly every answer is slow_down. With a private_key_jwt client every
request carries a fresh client assertion from a pool signed ahead of use.
The pending requests ask to live --duration + 5 s + what is left of their
start (requested_expiry); if the OP grants too little for the run, it stops
before polling (exit 2).

At most --max-in-flight polls are in flight (default: rate × max(4 × the
warm-up latency, 100 ms), within 64..4096); a poll due while the cap is full,
or more than 250 ms late, is dropped and counted (k6's dropped_iterations);
a poll the generator reaches late (a GC pause) starts at once only while the
cap has room, never queued into a burst beyond it. Connections to the OP are
capped (--max-conns; over HTTP/2 --max-streams requests on each at once,
150 by default and at most what the OP allows, the rest of those in flight
waiting in the client for a stream),
answers longer than --max-body count as unexpected, and --output is written
0600 with token values redacted unless --keep-secrets.

The summary shows the achieved rate, intended vs sent and dropped requests,
latency, the status and OAuth error mix, the CPU per request, peak in
flight, connections and TLS handshakes; when the generator was the
bottleneck it says "generator saturated: figures are a lower bound on the
OP's capacity". --threshold takes k6's grammar:
p(N), avg, min, max, med (latency per request; bare numbers are ms), rate
(expected answers per second) and errors (share of unexpected answers).
Without a threshold nothing is judged.

Exit status: 0 all thresholds held (or none was set), 1 a threshold broke,
2 usage or target error, 130 interrupted (Ctrl-C, SIGTERM) before the end:
the summary and files are still written, marked "aborted": "interrupted".`
	loadPollExample = `  ciba-check load poll --rate max --duration 10s
  ciba-check load poll --target t.yaml --rate 2000/s --duration 30s --pending 500 \
      --threshold 'p(99)<50ms' --threshold 'errors<0.001' --output results.bin
  ciba-check load poll --shard /4 --start-at 2026-11-25T17:00:00Z --output /results/$(hostname).bin`

	loadFlowShort = "Run complete CIBA flows (poll, ping or push) and measure approval-to-token latency"
	loadFlowLong  = `Run complete CIBA flows at --rate: the backchannel request, the device's
approval after --approve-delay (the user is held pending and approved
through the target's device driver), then the tokens by polling at the OP's
interval (--mode poll), on the ping notification (--mode ping), or pushed
by the OP to the client notification endpoint (--mode push, CIBA 10.3: a
flow succeeds when a token payload for its auth_req_id arrives with its
client_notification_token as bearer; an error payload or no delivery
within the flow's time fails it). --mode both runs poll and ping at once
under the same load and prints them side by side; --mode all adds push.
Without --target it runs against the bundled reference OP and mock device.

Push exists only outside FAPI (FAPI-CIBA 5.2.2-3 forbids it): --mode push
and all need --no-fapi (the embedded OP as plain CIBA Core, with its push
and client-secret clients) or a target.yaml with fapi: false and a push
client; otherwise they stop with exit 2. --auth and --client pick the
clients as for load poll (client_secret picks a secret client).

It reports flows per second, approval-to-token and end-to-end latency, and
failed flows. With a fixed --approve-delay every poll flow has the same
phase, so its approval-to-token time is the interval minus the delay.
Approval is taken when the device's call returns, so a push the OP sends
before answering it counts as 0.
Flows due while --max-in-flight flows are still running are dropped and
counted. Latency thresholds (--threshold 'p(99)<600ms', k6's grammar) judge
approval-to-token; rate judges completed flows per second; errors the share
of failed flows. Without a threshold nothing is judged.

Exit status: 0 all thresholds held (or none was set), 1 a threshold broke,
2 usage or target error, 130 interrupted (Ctrl-C, SIGTERM) before the end:
the summaries and files are still written, marked "aborted": "interrupted".`
	loadFlowExample = `  ciba-check load flow --mode both --rate 20/s --duration 1m      # poll vs ping, side by side
  ciba-check load flow --mode poll --rate 10/s --duration 30s --approve-delay 200ms \
      --threshold 'p(99)<1s' --threshold 'errors<1%' --json flow.json --html flow.html
  ciba-check load flow --mode ping --rate 50/s --duration 1m --output results.bin
  ciba-check load flow --no-fapi --mode all --rate 20/s --duration 30s  # poll, ping and push`
)

// loadRunHelp is the help of load poll or load flow.
func loadRunHelp(subcommand string) (short, long, example string) {
	if subcommand == "poll" {
		return loadPollShort, loadPollLong, loadPollExample
	}
	return loadFlowShort, loadFlowLong, loadFlowExample
}
