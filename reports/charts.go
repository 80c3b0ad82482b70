package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The charts are inline SVG built from numbers only; every text in them
// (titles, tick labels, legends) goes through html/template, so nothing
// from the OP reaches the page unescaped.

// Chart geometry in SVG user units; the SVG scales to its container.
const (
	chartW     = 560.0
	chartH     = 220.0
	chartLeft  = 52.0
	chartRight = 12.0
	chartTop   = 14.0
	chartBot   = 34.0
)

// chart is one SVG chart ready for the template.
type chart struct {
	Title  string
	Desc   string // text alternative for screen readers and print
	W, H   float64
	XLabel string
	YLabel string
	// Plot area.
	X0, Y0, X1, Y1 float64
	XTicks, YTicks []tick
	Lines          []chartLine
	Bars           []chartBar
	Legend         []legendItem
	// Horizontal charts have categories on the y axis: grid lines run
	// vertically.
	Horizontal bool
}

type tick struct {
	Pos   float64
	Label string
}

type chartLine struct {
	Class  string
	Points string
}

type chartBar struct {
	Class      string
	X, Y, W, H float64
	Title      string
}

type legendItem struct {
	Class, Label string
}

func newChart(title, xLabel, yLabel string) *chart {
	return &chart{
		Title: title, XLabel: xLabel, YLabel: yLabel, W: chartW, H: chartH,
		X0: chartLeft, Y0: chartTop, X1: chartW - chartRight, Y1: chartH - chartBot,
	}
}

// niceMax rounds v up to a round number times a power of ten, so the
// four axis intervals read as round numbers.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if v <= f*exp*(1+1e-9) {
			return f * exp
		}
	}
	return 10 * exp
}

// fmtNum prints a tick value briefly: 1500 -> "1.5k", 0.25 -> "0.25".
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZeros(strconv.FormatFloat(v/1e6, 'f', 1, 64)) + "M"
	case a >= 1e4:
		return trimZeros(strconv.FormatFloat(v/1e3, 'f', 1, 64)) + "k"
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	default:
		return trimZeros(strconv.FormatFloat(v, 'f', 3, 64))
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func (c *chart) yTicks(maxY float64, unit string) {
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: c.yPos(v, maxY), Label: fmtNum(v) + unit})
	}
}

func (c *chart) xTicks(maxX float64, unit string) {
	for i := 0; i <= 4; i++ {
		v := maxX * float64(i) / 4
		c.XTicks = append(c.XTicks, tick{Pos: c.xPos(v, maxX), Label: fmtNum(v) + unit})
	}
}

func (c *chart) xPos(v, maxX float64) float64 {
	return round2(c.X0 + (c.X1-c.X0)*v/maxX)
}

func (c *chart) yPos(v, maxY float64) float64 {
	return round2(c.Y1 - (c.Y1-c.Y0)*v/maxY)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func points(c *chart, xs, ys []float64, maxX, maxY float64) string {
	var b strings.Builder
	for i := range xs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s,%s", fmtCoord(c.xPos(xs[i], maxX)), fmtCoord(c.yPos(ys[i], maxY)))
	}
	return b.String()
}

func fmtCoord(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// seriesX is the middle of each bucket, in seconds from the start.
func seriesX(s []SeriesPoint) (xs []float64, maxX float64) {
	for _, p := range s {
		xs = append(xs, p.OffsetSeconds+p.BucketSeconds/2)
		if e := p.OffsetSeconds + p.BucketSeconds; e > maxX {
			maxX = e
		}
	}
	if maxX <= 0 {
		maxX = 1
	}
	return xs, maxX
}

// latencyOverTime draws p50 and p99 per bucket; nil without a series.
func latencyOverTime(l *LoadRun) *chart {
	if len(l.Series) == 0 {
		return nil
	}
	c := newChart("Latency over time (ms)", "", "")
	xs, maxX := seriesX(l.Series)
	p50 := make([]float64, len(l.Series))
	p99 := make([]float64, len(l.Series))
	var top float64
	for i, p := range l.Series {
		p50[i], p99[i] = p.P50MS, p.P99MS
		top = math.Max(top, math.Max(p.P50MS, p.P99MS))
	}
	maxY := niceMax(top)
	c.yTicks(maxY, "")
	c.xTicks(maxX, "s")
	c.Lines = []chartLine{
		{Class: "l-p99", Points: points(c, xs, p99, maxX, maxY)},
		{Class: "l-p50", Points: points(c, xs, p50, maxX, maxY)},
	}
	c.Legend = []legendItem{{"l-p50", "p50"}, {"l-p99", "p99"}}
	c.Desc = fmt.Sprintf("p50 and p99 latency in %d buckets of %s s; highest p99 %s ms", len(l.Series), fmtNum(l.Series[0].BucketSeconds), fmtNum(maxOf(p99)))
	return c
}

// throughputOverTime draws successful and unexpected answers per second
// as stacked bars per bucket.
func throughputOverTime(l *LoadRun) *chart {
	if len(l.Series) == 0 {
		return nil
	}
	c := newChart("Throughput over time (per second)", "", "")
	_, maxX := seriesX(l.Series)
	var top float64
	for _, p := range l.Series {
		top = math.Max(top, float64(p.OK+p.Unexpected)/p.BucketSeconds)
	}
	if l.Rate.Intended > 0 {
		top = math.Max(top, l.Rate.Intended)
	}
	maxY := niceMax(top)
	c.yTicks(maxY, "")
	c.xTicks(maxX, "s")
	for _, p := range l.Series {
		x0 := c.xPos(p.OffsetSeconds, maxX)
		w := math.Max(round2(c.xPos(p.OffsetSeconds+p.BucketSeconds, maxX)-x0-1), 0.5)
		ok := float64(p.OK) / p.BucketSeconds
		bad := float64(p.Unexpected) / p.BucketSeconds
		yOK := c.yPos(ok, maxY)
		c.Bars = append(c.Bars, chartBar{Class: "b-ok", X: x0, Y: yOK, W: w, H: round2(c.Y1 - yOK),
			Title: fmt.Sprintf("%s–%s s: %s ok/s", fmtNum(p.OffsetSeconds), fmtNum(p.OffsetSeconds+p.BucketSeconds), fmtNum(ok))})
		if p.Unexpected > 0 {
			yBad := c.yPos(ok+bad, maxY)
			c.Bars = append(c.Bars, chartBar{Class: "b-err", X: x0, Y: yBad, W: w, H: round2(yOK - yBad),
				Title: fmt.Sprintf("%s–%s s: %s unexpected/s", fmtNum(p.OffsetSeconds), fmtNum(p.OffsetSeconds+p.BucketSeconds), fmtNum(bad))})
		}
	}
	c.Legend = []legendItem{{"b-ok", "successful /s"}, {"b-err", "unexpected /s"}}
	if l.Rate.Intended > 0 {
		y := c.yPos(l.Rate.Intended, maxY)
		c.Lines = []chartLine{{Class: "l-target", Points: fmt.Sprintf("%s,%s %s,%s", fmtCoord(c.X0), fmtCoord(y), fmtCoord(c.X1), fmtCoord(y))}}
		c.Legend = append(c.Legend, legendItem{"l-target", "intended " + fmtNum(l.Rate.Intended) + "/s"})
	}
	c.Desc = fmt.Sprintf("successful and unexpected answers per second in %d buckets; achieved %s/s overall", len(l.Series), fmtNum(l.Rate.Achieved))
	return c
}

// latencyHistogram draws the histogram bins; nil without bins.
func latencyHistogram(l *LoadRun) *chart {
	if len(l.Histogram) == 0 {
		return nil
	}
	c := newChart("Latency distribution (count per bin, ms)", "", "")
	var top float64
	for _, b := range l.Histogram {
		top = math.Max(top, float64(b.Count))
	}
	maxY := niceMax(top)
	c.yTicks(maxY, "")
	n := float64(len(l.Histogram))
	slot := (c.X1 - c.X0) / n
	every := int(math.Ceil(n / 8)) // at most about 8 labels fit
	for i, b := range l.Histogram {
		x := round2(c.X0 + slot*float64(i))
		y := c.yPos(float64(b.Count), maxY)
		c.Bars = append(c.Bars, chartBar{Class: "b-hist", X: x + 1, Y: y, W: math.Max(round2(slot-2), 0.5), H: round2(c.Y1 - y),
			Title: fmt.Sprintf("≤ %s ms: %d", fmtNum(b.UpToMS), b.Count)})
		if i%every == 0 {
			c.XTicks = append(c.XTicks, tick{Pos: round2(x + slot/2), Label: "≤" + fmtNum(b.UpToMS)})
		}
	}
	c.Desc = fmt.Sprintf("latency histogram in %d bins up to %s ms", len(l.Histogram), fmtNum(l.Histogram[len(l.Histogram)-1].UpToMS))
	return c
}

// percentileCurve draws latency against percentile from the summary, so
// every run has a distribution chart even without a histogram.
func percentileCurve(l *LoadRun) *chart {
	lat := l.LatencyMS
	if lat.Max <= 0 {
		return nil
	}
	c := newChart("Latency by percentile (ms)", "", "")
	// Equal spacing per percentile: the tail (p95, p99, max) is what a
	// reader looks for and would be squeezed into the last pixels on a
	// linear axis.
	pcts := []float64{0, 50, 90, 95, 99, 100}
	names := []string{"min", "p50", "p90", "p95", "p99", "max"}
	ys := []float64{lat.Min, lat.P50, lat.P90, lat.P95, lat.P99, lat.Max}
	xs := make([]float64, len(ys))
	maxX := float64(len(ys) - 1)
	maxY := niceMax(lat.Max)
	c.yTicks(maxY, "")
	for i := range ys {
		xs[i] = float64(i)
		c.XTicks = append(c.XTicks, tick{Pos: c.xPos(xs[i], maxX), Label: names[i]})
	}
	c.Lines = []chartLine{{Class: "l-p99", Points: points(c, xs, ys, maxX, maxY)}}
	for i := range xs {
		c.Bars = append(c.Bars, chartBar{Class: "dot", X: c.xPos(xs[i], maxX) - 3, Y: c.yPos(ys[i], maxY) - 3, W: 6, H: 6,
			Title: fmt.Sprintf("%s (p%s): %s ms", names[i], fmtNum(pcts[i]), fmtNum(ys[i]))})
	}
	c.Desc = fmt.Sprintf("min %s, p50 %s, p90 %s, p95 %s, p99 %s, max %s ms", fmtNum(lat.Min), fmtNum(lat.P50), fmtNum(lat.P90), fmtNum(lat.P95), fmtNum(lat.P99), fmtNum(lat.Max))
	return c
}

// compareChart draws p50/p90/p99 of each run as grouped horizontal bars,
// using approval-to-token latency when every run has it (poll vs ping).
func compareChart(runs []LoadRun) *chart {
	if len(runs) < 2 {
		return nil
	}
	useApproval := true
	for _, r := range runs {
		if r.ApprovalToTokenMS == nil {
			useApproval = false
		}
	}
	title := "Latency by run"
	if useApproval {
		title = "Approval-to-token latency by run"
	}
	lat := func(r *LoadRun) Latency {
		if useApproval {
			return *r.ApprovalToTokenMS
		}
		return r.LatencyMS
	}
	var top float64
	for i := range runs {
		top = math.Max(top, lat(&runs[i]).P99)
	}
	maxX := niceMax(top)
	c := newChart(title+" (ms)", "", "")
	c.X0 = 110
	c.X1 = chartW - 24 // room for the last tick label
	c.Horizontal = true
	rowH := 3 * 12.0
	c.H = round2(chartTop + float64(len(runs))*(rowH+10) + chartBot)
	c.Y1 = c.H - chartBot
	c.xTicks(maxX, "")
	for i := range runs {
		l := lat(&runs[i])
		y0 := chartTop + float64(i)*(rowH+10)
		c.YTicks = append(c.YTicks, tick{Pos: round2(y0 + rowH/2 + 4), Label: clipText(runs[i].Label(), 16)})
		for j, v := range []struct {
			class string
			name  string
			ms    float64
		}{{"b-p50", "p50", l.P50}, {"b-p90", "p90", l.P90}, {"b-p99", "p99", l.P99}} {
			c.Bars = append(c.Bars, chartBar{Class: v.class, X: c.X0, Y: round2(y0 + float64(j)*12), W: math.Max(round2(c.xPos(v.ms, maxX)-c.X0), 0.5), H: 10,
				Title: fmt.Sprintf("%s %s: %s ms", runs[i].Label(), v.name, fmtNum(v.ms))})
		}
	}
	c.Legend = []legendItem{{"b-p50", "p50"}, {"b-p90", "p90"}, {"b-p99", "p99"}}
	c.Desc = title + " for " + fmt.Sprint(len(runs)) + " runs"
	return c
}

func maxOf(vs []float64) float64 {
	var m float64
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
