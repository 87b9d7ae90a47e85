package recorder

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
)

// A flow's records say whether one went before (Flow.Reported, which the
// fleet ships as its first bit): a flow reported only when it ends has
// one record, not reported before; an active flow's interim record is
// its first, and its final record is not.
func TestFlowRecordsSayFirst(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval time.Duration
		want     string // each record: i interim, f final; + reported before
	}{
		{"only", time.Hour, "f"},
		{"active", 20 * time.Millisecond, "if+"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, w := setup(t)
			src := &sliceSource{}
			d := tcpFrame(40000, false, 0x18, 100)
			src.frames = []capture.Packet{{Timestamp: time.Now().UnixNano(), OrigLen: len(d), Data: d}}
			var mu sync.Mutex
			var got string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				time.Sleep(300 * time.Millisecond) // 15 intervals: the flow is reported while active
				cancel()
			}()
			_, err := Run(ctx, Config{Source: src, Writer: w, FlowInterval: c.interval, Flows: func(r FlowRecord) {
				mu.Lock()
				defer mu.Unlock()
				if r.Final {
					got += "f"
				} else {
					got += "i"
				}
				if r.Flow.Reported {
					got += "+"
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if got != c.want {
				t.Errorf("records %q, want %q (i interim, f final, + reported before)", got, c.want)
			}
		})
	}
}
