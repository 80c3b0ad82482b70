package mockdevice

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ciba-check/ciba-check/ciba"
	"github.com/ciba-check/ciba-check/clock"
)

// BenchmarkDeviceCostFlatWithStoredRequests measures what one request
// costs the device (arrival, a wait for it, a lookup) with 1,000 and with
// 30,000 undecided requests already stored, and reports the ratio: the
// per-request cost must not grow with the record (issue 14: WaitMatch and
// the eviction used to scan every stored request). Run:
//
//	go test ./mockdevice -run '^$' -bench DeviceCostFlat -benchtime 1x
func BenchmarkDeviceCostFlatWithStoredRequests(b *testing.B) {
	const ops = 20_000
	perOp := map[int]time.Duration{}
	for _, stored := range []int{1_000, 30_000} {
		d, err := New(Config{
			CallbackURL: "https://op.example.test/cb",
			Clock:       clock.NewFake(time.Unix(1_800_000_000, 0)),
			Default:     Policy{Outcome: ciba.OutcomeNever},
			// Full from the start: every arrival must make room, as in a
			// long serve whose record is at its bound.
			MaxRequests: stored,
		})
		if err != nil {
			b.Fatal(err)
		}
		for i := range stored {
			if _, err := d.receive(Request{ID: fmt.Sprintf("old-%d", i), LoginHint: "carol"}, "token", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
		ctx := context.Background()
		start := time.Now()
		for i := range ops {
			id := fmt.Sprintf("new-%d", i)
			if _, err := d.receive(Request{ID: id, LoginHint: "carol"}, "token", time.Time{}); err != nil {
				b.Fatal(err)
			}
			if _, err := d.Wait(ctx, id); err != nil {
				b.Fatal(err)
			}
			if _, ok := d.Request(id); !ok {
				b.Fatalf("%s forgotten at once", id)
			}
		}
		perOp[stored] = time.Since(start) / ops
		d.Close()
	}
	ratio := float64(perOp[30_000]) / float64(perOp[1_000])
	b.ReportMetric(float64(perOp[1_000].Nanoseconds()), "ns/req@1k")
	b.ReportMetric(float64(perOp[30_000].Nanoseconds()), "ns/req@30k")
	b.ReportMetric(ratio, "ratio")
	b.Logf("per request: %v with 1,000 stored, %v with 30,000 stored: ratio %.2f (aim <= 1.2)", perOp[1_000], perOp[30_000], ratio)
}
