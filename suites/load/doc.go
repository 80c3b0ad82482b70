// Package load is ciba-check's load runner: it drives an OP's token
// endpoint with CIBA polls (CIBA 10.1, 11) and complete poll, ping or push flows
// through vegeta (github.com/tsenart/vegeta/v12) used as a library.
//
// What vegeta does not do for us lives here:
//   - client assertions: private_key_jwt needs a fresh, never reused
//     assertion per request (RFC 7523 3, OIDC Core 9 jti); signing inline
//     costs ~0.7 ms of CPU with PS256, so an AssertionPool signs ahead of use;
//   - classification: vegeta counts every 4xx as an error, but a poll
//     answered authorization_pending or slow_down (CIBA 11) is an expected
//     answer, so Recorder classifies by OAuth error code;
//   - open-model arrival with bounded concurrency (k6's
//     constant-arrival-rate): vegeta's pacer blocks when workers run out
//     and then bursts, and with many workers in-flight requests grow until
//     the OP's HTTP/2 streams overflow and new TLS connections swamp it;
//     Pacer caps hits in flight, drops (and counts) a hit due while the cap
//     is full, and NewHTTPClient caps connections per host, caps answer
//     bodies and counts connections and handshakes, so a run whose
//     generator was the bottleneck says so (GeneratorSummary);
//   - thresholds in k6's grammar, shards and merging them from raw results,
//     and a progress line.
//
// A run's result is the report model's load run itself
// (reports.LoadRun); reports writes it as the versioned summary (schema
// ciba-check/load/v1, docs/load-schema.md) and renders it.
package load
