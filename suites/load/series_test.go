package load

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ciba-check/ciba-check/reports"
)

const pendingBody = `{"error":"authorization_pending"}`

// epoch is a whole hour, on every grid, so bucket boundaries fall on
// whole offsets.
func epoch() time.Time { return time.Unix(1_699_999_200, 0) }

func TestRecorderSeriesBuckets(t *testing.T) {
	type hit struct {
		at   time.Duration // after epoch
		lat  time.Duration
		code int
		body string
	}
	steady := func(n int, every, lat time.Duration) []hit {
		var hs []hit
		for i := range n {
			hs = append(hs, hit{at: time.Duration(i) * every, lat: lat, code: 400, body: pendingBody})
		}
		return hs
	}
	for _, tt := range []struct {
		name       string
		hits       []hit
		width      float64 // bucket_seconds
		sent       []uint64
		unexpected []uint64
		p50, p99   []float64 // ms, within 0.5 %
	}{
		{
			name:  "30 s at 10/s: 1 s buckets",
			hits:  steady(300, 100*time.Millisecond, 4*time.Millisecond),
			width: 1, sent: repeat(30, 10), unexpected: repeat(30, 0),
			p50: fill(30, 4), p99: fill(30, 4),
		},
		{
			name:  "5 s run: about ten buckets of 0.5 s",
			hits:  steady(50, 100*time.Millisecond, 2*time.Millisecond),
			width: 0.5, sent: repeat(10, 5), unexpected: repeat(10, 0),
			p50: fill(10, 2), p99: fill(10, 2),
		},
		{
			name: "a gap and an error: empty buckets stay, classes split",
			hits: []hit{
				{0, 10 * time.Millisecond, 400, pendingBody},
				{300 * time.Millisecond, 30 * time.Millisecond, 500, ""},
				{12 * time.Second, 20 * time.Millisecond, 200, `{"access_token":"x"}`},
			},
			width: 1, sent: []uint64{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
			unexpected: []uint64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			p50:        []float64{10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20},
			p99:        []float64{30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20},
		},
		{
			name: "latency rises: per-bucket percentiles follow",
			hits: append(steady(100, 100*time.Millisecond, 5*time.Millisecond),
				[]hit{
					{10 * time.Second, 50 * time.Millisecond, 400, pendingBody},
					{10*time.Second + 500*time.Millisecond, 70 * time.Millisecond, 400, pendingBody},
				}...),
			width: 1, sent: append(repeat(10, 10), 2), unexpected: repeat(11, 0),
			p50: append(fill(10, 5), 50), p99: append(fill(10, 5), 70),
		},
		{
			name:  "two hours: ≤ 300 points of 30 s",
			hits:  steady(7200, time.Second, time.Millisecond),
			width: 30, sent: repeat(240, 30), unexpected: repeat(240, 0),
			p50: fill(240, 1), p99: fill(240, 1),
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(ScenarioPoll)
			for _, h := range tt.hits {
				r.Add(result(h.code, h.body, h.lat, epoch().Add(h.at)))
			}
			s := r.Summary(RunInfo{Rate: Rate{Freq: 10, Per: time.Second}})
			if len(s.Series) != len(tt.sent) {
				t.Fatalf("%d points, want %d: %+v", len(s.Series), len(tt.sent), s.Series)
			}
			var total uint64
			for i, p := range s.Series {
				if p.BucketSeconds != tt.width || p.OffsetSeconds != float64(i)*tt.width {
					t.Fatalf("point %d at %v+%v s, want %v+%v", i, p.OffsetSeconds, p.BucketSeconds, float64(i)*tt.width, tt.width)
				}
				if p.Sent != tt.sent[i] || p.Unexpected != tt.unexpected[i] || p.OK+p.Unexpected != p.Sent {
					t.Fatalf("point %d: %+v, want sent %d unexpected %d", i, p, tt.sent[i], tt.unexpected[i])
				}
				if !sketchNear(p.P50MS, tt.p50[i]) || !sketchNear(p.P99MS, tt.p99[i]) {
					t.Fatalf("point %d: p50 %v p99 %v, want %v %v", i, p.P50MS, p.P99MS, tt.p50[i], tt.p99[i])
				}
				total += p.Sent
			}
			if total != s.Requests.Sent {
				t.Fatalf("series holds %d requests, the summary %d", total, s.Requests.Sent)
			}
		})
	}
}

func repeat(n int, v uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func near(got, want float64) bool { return math.Abs(got-want) <= want*0.005 }

// sketchNear: a bucket's quantile is read from a one-digit HdrHistogram,
// never below the true value and at most 1/16 above it.
func sketchNear(got, want float64) bool { return got >= want && got <= want*(1+1.0/16) }

func TestRecorderSeriesStaysBounded(t *testing.T) {
	r := NewRecorder(ScenarioPoll)
	// A day of results, one a second, with spread latencies.
	for i := range 86_400 {
		r.Add(result(400, pendingBody, time.Duration(1+i%997)*time.Millisecond, epoch().Add(time.Duration(i)*time.Second)))
	}
	if n := len(r.series.buckets); n > maxFineBuckets {
		t.Fatalf("%d buckets kept, want ≤ %d", n, maxFineBuckets)
	}
	// Memory is buckets × a fixed-size sketch, not a function of the
	// results: a day of them fills no more than the bound.
	bound := maxFineBuckets*bucketBytes() + newSketch(runDigits).ByteSize()
	if m := r.series.memory(); m > bound || bound > 5<<20 {
		t.Fatalf("series sketches hold %d bytes, bound %d (want ≤ 5 MiB)", m, bound)
	}
	s := r.Summary(RunInfo{})
	if len(s.Series) > maxSeriesPoints || len(s.Series) < maxSeriesPoints/3 {
		t.Fatalf("%d points, want ≤ %d and not far fewer", len(s.Series), maxSeriesPoints)
	}
	if len(s.Histogram) > histogramBins+2 {
		t.Fatalf("%d histogram bins", len(s.Histogram))
	}
}

func TestRecorderHistogram(t *testing.T) {
	for _, tt := range []struct {
		name string
		lats []time.Duration
		// lastUpTo is the last bin's bound; tail says it is the tail bin.
		lastUpTo float64
		tail     bool
		minBins  int
	}{
		{
			name:     "uniform 1..100 ms",
			lats:     spread(1, 100, 1000),
			lastUpTo: 100, minBins: 15,
		},
		{
			name:     "narrow around 500 ms, no comb",
			lats:     append(spread(500, 510, 900), spread(510, 530, 100)...),
			lastUpTo: 530, minBins: 10,
		},
		{
			name:     "3 ms wide at 1 s: bins no finer than the recording",
			lats:     spread(1000, 1003, 1000),
			lastUpTo: 1003, minBins: 2,
		},
		{
			name:     "long tail gets one last bin up to the max",
			lats:     append(spread(2, 4, 995), 400*time.Millisecond, 900*time.Millisecond, 3*time.Second, 3*time.Second, 3*time.Second),
			lastUpTo: 3000, tail: true, minBins: 5,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecorder(ScenarioPoll)
			for i, l := range tt.lats {
				r.Add(result(400, pendingBody, l, epoch().Add(time.Duration(i)*time.Millisecond)))
			}
			h := r.Summary(RunInfo{}).Histogram
			if len(h) < tt.minBins || len(h) > histogramBins+2 {
				t.Fatalf("%d bins: %+v", len(h), h)
			}
			var total uint64
			for i, b := range h {
				total += b.Count
				if i > 0 && b.UpToMS <= h[i-1].UpToMS {
					t.Fatalf("bins not ascending: %+v", h)
				}
			}
			if total != uint64(len(tt.lats)) {
				t.Fatalf("bins hold %d latencies, want %d", total, len(tt.lats))
			}
			if last := h[len(h)-1].UpToMS; !near(last, tt.lastUpTo) && !(last >= tt.lastUpTo && last < tt.lastUpTo*1.1) {
				t.Fatalf("last bin up to %v ms, want about %v", last, tt.lastUpTo)
			}
			body := h
			if tt.tail {
				// The body is equal-width, the tail bin much wider.
				body = h[:len(h)-1]
				if w0, wt := body[1].UpToMS-body[0].UpToMS, h[len(h)-1].UpToMS-body[len(body)-1].UpToMS; wt < 10*w0 {
					t.Fatalf("no tail bin: %+v", h)
				}
				return
			}
			// Equal-width bins of a smooth distribution have no empty bin
			// (a too fine width draws a comb).
			for i, b := range body {
				if b.Count == 0 {
					t.Fatalf("empty bin %d: %+v", i, h)
				}
			}
		})
	}
}

// spread is n latencies evenly from lo to hi milliseconds.
func spread(lo, hi float64, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((lo + (hi-lo)*float64(i)/float64(n-1)) * float64(time.Millisecond))
	}
	return out
}

func TestMergeRebuildsTheSeriesOfOneRun(t *testing.T) {
	// Two shards of a 20 s poll run, their results interleaved in time,
	// with latencies that vary, and some failures.
	rng := rand.New(rand.NewPCG(1, 2))
	var shards [2]bytes.Buffer
	var all []*vegeta.Result
	for s := range 2 {
		enc := vegeta.NewEncoder(&shards[s])
		name := AttackName(ScenarioPoll, Shard{s, 2}, Rate{Freq: 50, Per: time.Second}, 20*time.Second, "")
		for i := range 1000 {
			res := &vegeta.Result{Attack: name, Seq: uint64(i), Code: 400, Body: []byte(pendingBody), Method: "POST", URL: "https://op/token",
				Timestamp: epoch().Add(time.Duration(i)*20*time.Millisecond + time.Duration(s)*7*time.Millisecond),
				Latency:   time.Duration(1+rng.IntN(40)) * time.Millisecond}
			if rng.IntN(50) == 0 {
				res.Code, res.Body = 500, nil
			}
			if err := enc.Encode(res); err != nil {
				t.Fatal(err)
			}
			all = append(all, res)
		}
	}
	// One run over the same results, in another order.
	one := NewRecorder(ScenarioPoll)
	for _, i := range rng.Perm(len(all)) {
		one.Add(all[i])
	}
	want := one.Summary(RunInfo{})
	merged, err := Merge([]MergeInput{{"b.bin", bytes.NewReader(shards[1].Bytes())}, {"a.bin", bytes.NewReader(shards[0].Bytes())}}, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Series) != 20 || want.Series[0].BucketSeconds != 1 {
		t.Fatalf("one run: %d points of %v s, want 20 of 1 s", len(want.Series), want.Series[0].BucketSeconds)
	}
	if !reflect.DeepEqual(merged.Series, want.Series) {
		t.Fatalf("merged series differs from one run's:\n%+v\n%+v", merged.Series, want.Series)
	}
	if !reflect.DeepEqual(merged.Histogram, want.Histogram) {
		t.Fatalf("merged histogram differs from one run's:\n%+v\n%+v", merged.Histogram, want.Histogram)
	}
	var sent, bad uint64
	for _, p := range merged.Series {
		sent, bad = sent+p.Sent, bad+p.Unexpected
	}
	if sent != merged.Requests.Sent || bad != merged.Requests.Unexpected || bad == 0 {
		t.Fatalf("series counts %d sent %d unexpected, summary %+v", sent, bad, merged.Requests)
	}
}

func TestSummaryJSONCarriesSeriesUnderReportNames(t *testing.T) {
	r := NewRecorder(ScenarioPoll)
	r.Add(result(400, pendingBody, 3*time.Millisecond, epoch()))
	buf := summaryJSON(t, r.Summary(RunInfo{}))
	var doc struct {
		Series    []map[string]any `json:"series"`
		Histogram []map[string]any `json:"histogram"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Series) != 1 || len(doc.Histogram) == 0 {
		t.Fatalf("series %v histogram %v", doc.Series, doc.Histogram)
	}
	for _, k := range []string{"offset_seconds", "bucket_seconds", "sent", "ok", "unexpected", "p50_ms", "p99_ms"} {
		if _, ok := doc.Series[0][k]; !ok {
			t.Errorf("series point lacks %q: %v", k, doc.Series[0])
		}
	}
	for _, k := range []string{"up_to_ms", "count"} {
		if _, ok := doc.Histogram[0][k]; !ok {
			t.Errorf("histogram bin lacks %q: %v", k, doc.Histogram[0])
		}
	}
	// The report model reads the same figures (the charts' input).
	m, err := reports.FromLoadJSON(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sum := r.Summary(RunInfo{})
	got := m.Load[0]
	if len(got.Series) != len(sum.Series) || len(got.Histogram) != len(sum.Histogram) {
		t.Fatalf("model has %d points %d bins, summary %d %d", len(got.Series), len(got.Histogram), len(sum.Series), len(sum.Histogram))
	}
	for i, p := range sum.Series {
		if reports.SeriesPoint(p) != got.Series[i] {
			t.Fatalf("point %d: model %+v, summary %+v", i, got.Series[i], p)
		}
	}
	for i, b := range sum.Histogram {
		if reports.HistogramBin(b) != got.Histogram[i] {
			t.Fatalf("bin %d: model %+v, summary %+v", i, got.Histogram[i], b)
		}
	}
	// No results: neither member appears.
	buf = summaryJSON(t, NewRecorder(ScenarioPoll).Summary(RunInfo{}))
	if bytes.Contains(buf.Bytes(), []byte(`"series"`)) || bytes.Contains(buf.Bytes(), []byte(`"histogram"`)) {
		t.Fatalf("empty run writes series or histogram: %s", buf.Bytes())
	}
}

func TestOutputWidth(t *testing.T) {
	for _, tt := range []struct {
		fine, span, want time.Duration
	}{
		{10 * time.Millisecond, 5 * time.Second, 500 * time.Millisecond},
		{10 * time.Millisecond, 2 * time.Second, 200 * time.Millisecond},
		{10 * time.Millisecond, 500 * time.Millisecond, 100 * time.Millisecond},
		{20 * time.Millisecond, 20 * time.Second, time.Second},
		{100 * time.Millisecond, 120 * time.Second, time.Second},
		{time.Second, 1000 * time.Second, 5 * time.Second},
		{2 * time.Second, 2400 * time.Second, 10 * time.Second},
		{time.Hour, 1000 * time.Hour, 4 * time.Hour},
	} {
		got := outputWidth(tt.fine, tt.span)
		if got != tt.want || got%tt.fine != 0 || (tt.span+got-1)/got > maxSeriesPoints {
			t.Errorf("outputWidth(%v, %v) = %v, want %v", tt.fine, tt.span, got, tt.want)
		}
	}
}

// TestSeriesMemoryDoesNotGrowWithRequests: ten times the results over the
// same seconds, with latencies spread as widely, hold the same memory.
func TestSeriesMemoryDoesNotGrowWithRequests(t *testing.T) {
	mem := func(n int) int {
		r := NewRecorder(ScenarioPoll)
		for i := range n {
			at := epoch().Add(time.Duration(i) * 60 * time.Second / time.Duration(n))
			r.Add(result(400, pendingBody, time.Duration(1+i%4999)*time.Microsecond*37, at))
		}
		return r.series.memory()
	}
	if small, large := mem(20_000), mem(200_000); small != large {
		t.Fatalf("%d bytes for 20k results, %d for 200k: memory follows the request count", small, large)
	}
}
