package load

import (
	"math"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ciba-check/ciba-check/reports"
)

// SeriesPoint is one time bucket of a run: Sent, OK (tokens or expected
// answers) and Unexpected count the requests (flows) started in it, P50MS
// and P99MS their latency_ms; OffsetSeconds is the bucket's start after
// the start of the first bucket (the first request's start, rounded down
// to the grid). HistogramBin counts latencies up to UpToMS (above the
// previous bin). Both are the report model's types.
type (
	SeriesPoint  = reports.SeriesPoint
	HistogramBin = reports.HistogramBin
)

// Limits of the series and the histogram.
const (
	// maxSeriesPoints bounds the points of a summary's series.
	maxSeriesPoints = 300
	// maxFineBuckets bounds the buckets kept while recording; past it the
	// grid coarsens, so memory does not grow with the run's length.
	maxFineBuckets = 1200
	// histogramBins is about how many bins the summary's histogram has.
	histogramBins = 30
)

// The latency sketches are HdrHistograms (github.com/HdrHistogram/
// hdrhistogram-go): fixed-size arrays of counts over log-linear bins, so
// their memory depends on the range and precision configured, never on
// how many values they hold, and they merge exactly (counts add), so
// buckets can coarsen and shards combine without loss or order effects.
const (
	// sketchLowest and sketchHighest are the range recorded, in
	// nanoseconds: 1 µs to 1 h; a latency outside is clamped to it.
	sketchLowest  = int64(time.Microsecond)
	sketchHighest = int64(time.Hour)
	// bucketDigits is the precision of a time bucket's latencies: one
	// significant digit, a quantile read within 1/16 above the true value,
	// in about 4 KiB per bucket (maxFineBuckets × that bounds the series).
	bucketDigits = 1
	// runDigits is the precision of the whole run's latencies, which the
	// histogram regroups into linear bins: within 0.1 %, in about 190 KiB.
	runDigits = 3
)

func newSketch(digits int) *hdrhistogram.Histogram {
	return hdrhistogram.New(sketchLowest, sketchHighest, digits)
}

func record(h *hdrhistogram.Histogram, d time.Duration) {
	// In range by construction, so RecordValue cannot fail.
	_ = h.RecordValue(min(max(int64(d), sketchLowest), sketchHighest))
}

// bucketBytes is the memory of one time bucket's sketch.
var bucketBytes = newSketch(bucketDigits).ByteSize

// widthAt is the recording grid of level, finest first; past the table
// it doubles.
func widthAt(level int) time.Duration {
	// Each divides the next and every one divides a whole hour, so
	// coarsening merges whole buckets and the grids of all shards line up
	// (they are anchored at the Unix epoch).
	fineWidths := [...]time.Duration{
		10 * time.Millisecond, 20 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, time.Second, 2 * time.Second,
		10 * time.Second, 20 * time.Second, time.Minute, 2 * time.Minute,
		10 * time.Minute, 20 * time.Minute, time.Hour,
	}
	if level < len(fineWidths) {
		return fineWidths[level]
	}
	return time.Hour << (level - len(fineWidths) + 1)
}

type seriesBucket struct {
	sent, ok, unexpected uint64
	lat                  *hdrhistogram.Histogram
}

func newBucket() *seriesBucket { return &seriesBucket{lat: newSketch(bucketDigits)} }

func (b *seriesBucket) merge(o *seriesBucket) {
	b.sent += o.sent
	b.ok += o.ok
	b.unexpected += o.unexpected
	b.lat.Merge(o.lat)
}

// quantileMS is the q-quantile (0..1) of h in milliseconds (0 when empty).
func quantileMS(h *hdrhistogram.Histogram, q float64) float64 {
	if h.TotalCount() == 0 {
		return 0
	}
	return nsToMS(float64(h.ValueAtQuantile(q * 100)))
}

// seriesRecorder buckets results by their start on a grid anchored at the
// Unix epoch. The grid coarsens when the results span more than
// maxFineBuckets, so its size is bounded whatever the run's length, and
// the outcome depends only on the set of results, not their order (a
// merge of shards equals one run over the same results).
type seriesRecorder struct {
	level   int
	buckets map[int64]*seriesBucket
	lo, hi  int64 // bucket indexes seen, valid when buckets is not empty
	all     *hdrhistogram.Histogram
}

func newSeriesRecorder() seriesRecorder {
	return seriesRecorder{buckets: map[int64]*seriesBucket{}, all: newSketch(runDigits)}
}

// memory is the bytes held by the sketches: at most maxFineBuckets ×
// bucketBytes() plus the run's sketch, whatever the number of results.
func (s *seriesRecorder) memory() int {
	n := s.all.ByteSize()
	for _, b := range s.buckets {
		n += b.lat.ByteSize()
	}
	return n
}

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (s *seriesRecorder) add(start time.Time, latency time.Duration, class Class) {
	ns := start.UnixNano()
	if start.Before(time.Unix(0, 0)) || !time.Unix(0, ns).Equal(start) {
		// No place on the grid: a decoded result without a timestamp, or
		// one outside what nanoseconds since 1970 hold.
		return
	}
	idx := floorDiv(ns, int64(widthAt(s.level)))
	if len(s.buckets) == 0 {
		s.lo, s.hi = idx, idx
	}
	s.lo, s.hi = min(s.lo, idx), max(s.hi, idx)
	for s.hi-s.lo+1 > maxFineBuckets {
		s.coarsen()
		idx = floorDiv(ns, int64(widthAt(s.level)))
	}
	b := s.buckets[idx]
	if b == nil {
		b = newBucket()
		s.buckets[idx] = b
	}
	b.sent++
	switch class {
	case ClassUnexpected:
		b.unexpected++
	default:
		b.ok++
	}
	record(b.lat, latency)
	record(s.all, latency)
}

// coarsen moves every bucket to the next grid.
func (s *seriesRecorder) coarsen() {
	ratio := int64(widthAt(s.level+1) / widthAt(s.level))
	s.level++
	old := s.buckets
	s.buckets = make(map[int64]*seriesBucket, len(old)/int(ratio)+1)
	for idx, b := range old {
		n := floorDiv(idx, ratio)
		if to := s.buckets[n]; to != nil {
			to.merge(b)
		} else {
			s.buckets[n] = b
		}
	}
	s.lo, s.hi = floorDiv(s.lo, ratio), floorDiv(s.hi, ratio)
}

// outputWidth picks the series' bucket width for fine buckets of width
// fine spanning span: at least a second and at most maxSeriesPoints
// points; a run shorter than ten seconds gets the widest of 0.1, 0.2
// and 0.5 s that still gives eight points (at most twenty).
func outputWidth(fine, span time.Duration) time.Duration {
	outputWidths := [...]time.Duration{
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
		20 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, time.Hour,
	}
	fits := func(w time.Duration) bool { return w%fine == 0 && w >= fine }
	if span < 10*time.Second {
		best := time.Duration(0)
		for _, w := range outputWidths {
			if fits(w) && (best == 0 || w*8 <= span) {
				best = w
			}
		}
		if best != 0 {
			return best
		}
	}
	for _, w := range outputWidths {
		if fits(w) && w >= time.Second && (span+w-1)/w <= maxSeriesPoints {
			return w
		}
	}
	w := fine
	for (span+w-1)/w > maxSeriesPoints {
		w *= 2
	}
	return w
}

// series regroups the recorded buckets into at most maxSeriesPoints equal
// buckets, oldest first, every one from the first to the last present.
func (s *seriesRecorder) series() []SeriesPoint {
	if len(s.buckets) == 0 {
		return nil
	}
	fine := widthAt(s.level)
	span := time.Duration(s.hi-s.lo+1) * fine
	w := outputWidth(fine, span)
	per := int64(w / fine)
	n := (s.hi - s.lo + per) / per
	groups := make([]*seriesBucket, n)
	for i := range groups {
		groups[i] = newBucket()
	}
	for idx, b := range s.buckets {
		groups[(idx-s.lo)/per].merge(b)
	}
	out := make([]SeriesPoint, n)
	for i, g := range groups {
		out[i] = SeriesPoint{
			OffsetSeconds: (time.Duration(i) * w).Seconds(),
			BucketSeconds: w.Seconds(),
			Sent:          g.sent, OK: g.ok, Unexpected: g.unexpected,
			P50MS: quantileMS(g.lat, 0.5),
			P99MS: quantileMS(g.lat, 0.99),
		}
	}
	return out
}

// histogram regroups the run's latencies into about histogramBins linear
// bins of a round width, from the fastest latency up to the p99; slower
// ones, when the tail is long (max above twice the p99), share one last
// bin up to the max, so the tail does not squeeze the body into a bar.
func (s *seriesRecorder) histogram() []HistogramBin {
	if s.all.TotalCount() == 0 {
		return nil
	}
	// The sketch's own bins, fine (0.1 %) and log-linear, each taken at
	// its middle.
	type bin struct {
		mid, width float64
		count      uint64
	}
	var bins []bin
	for _, b := range s.all.Distribution() {
		if b.Count > 0 {
			bins = append(bins, bin{mid: float64(b.From+b.To) / 2, width: float64(b.To - b.From + 1), count: uint64(b.Count)})
		}
	}
	lo, hi := bins[0].mid, bins[len(bins)-1].mid
	top := hi
	if p99 := float64(s.all.ValueAtQuantile(99)); hi > 2*p99 {
		top = p99
	}
	// A linear bin narrower than a few sketch bins would alias: some
	// would get one sketch bin, some two, drawing a comb, not the shape.
	var topWidth float64
	for _, b := range bins {
		if b.mid <= top {
			topWidth = b.width
		}
	}
	minWidth := 3 * topWidth
	width := niceStep(max((top-lo)/histogramBins, minWidth))
	firstStep := math.Floor(lo / width)
	first := firstStep * width
	n := int(math.Floor((top-first)/width)) + 1
	out := make([]HistogramBin, n, n+1)
	for i := range out {
		// Bounds are multiples of the round width; sig(…, 12) only
		// drops the float noise of the product.
		out[i].UpToMS = sig((firstStep+float64(i+1))*width/1e6, 12)
	}
	var tail uint64
	for _, b := range bins {
		i := int(math.Floor((b.mid - first) / width))
		if i >= n {
			tail += b.count
			continue
		}
		out[i].Count += b.count
	}
	if tail > 0 {
		out = append(out, HistogramBin{UpToMS: nsToMS(hi), Count: tail})
	}
	return out
}

// niceStep is the smallest 1, 2, 2.5 or 5 × 10^k at least v (> 0).
func niceStep(v float64) float64 {
	if !(v > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// nsToMS converts nanoseconds to milliseconds, rounded to four significant
// digits: more would only be the sketches' noise.
func nsToMS(ns float64) float64 { return sig(ns/1e6, 4) }

// sig rounds v to digits significant digits.
func sig(v float64, digits int) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', digits, 64), 64)
	return r
}
