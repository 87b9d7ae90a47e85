package recorder

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// sliceSource hands out a fixed list of frames, a few per Read, then
// nothing: every frame is admitted at once.
type sliceSource struct {
	mu     sync.Mutex
	frames []capture.Packet
	seen   int
}

func (s *sliceSource) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	s.mu.Lock()
	n := min(5, len(s.frames)-s.seen)
	take := s.frames[s.seen : s.seen+n]
	s.seen += n
	s.mu.Unlock()
	for _, p := range take {
		fn(p)
	}
	if n == 0 {
		time.Sleep(time.Millisecond)
	}
	return n, nil
}
func (s *sliceSource) Stop() error { return nil }
func (s *sliceSource) Stats() (capture.Stats, error) {
	return capture.Stats{Received: uint64(len(s.frames))}, nil
}
func (s *sliceSource) Seen() uint64     { s.mu.Lock(); defer s.mu.Unlock(); return uint64(s.seen) }
func (s *sliceSource) LinkType() uint32 { return 1 }
func (s *sliceSource) Close() error     { return nil }

// tcpFrame is an Ethernet + IPv4 (20 bytes) + TCP (20 bytes) frame with
// payload bytes of payload, from client port sport to 10.0.0.2:80 (or
// back when reverse).
func tcpFrame(sport uint16, reverse bool, flags byte, payload int) []byte {
	b := make([]byte, 54+payload)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
	ip[8], ip[9] = 64, 6
	a, c := []byte{10, 0, 0, 1}, []byte{10, 0, 0, 2}
	p1, p2 := sport, uint16(80)
	if reverse {
		a, c, p1, p2 = c, a, p2, p1
	}
	copy(ip[12:], a)
	copy(ip[16:], c)
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp, p1)
	binary.BigEndian.PutUint16(tcp[2:], p2)
	tcp[12], tcp[13] = 5<<4, flags
	for i := range payload {
		b[54+i] = byte(i)
	}
	return b
}

// TestFlowRecordsAndCutoff runs a recording of two TCP flows, one of 10
// packets of 200 payload bytes each way in turn and one of 2 small
// packets, through a 500-byte cutoff. From first principles: the first
// flow's packets 1-3 carry 0, 200 and 400 bytes before them, so they are
// whole; packets 4-10 are cut to their 54 bytes of headers.
func TestFlowRecordsAndCutoff(t *testing.T) {
	for _, keep := range []cutoff.Keep{cutoff.KeepHeaders, cutoff.KeepNone} {
		t.Run(keep.String(), func(t *testing.T) {
			db, s, w := setup(t)
			src := &sliceSource{}
			ts := int64(time.Now().UnixNano())
			for i := range 10 {
				d := tcpFrame(40000, i%2 == 1, 0x18, 200)
				src.frames = append(src.frames, capture.Packet{Timestamp: ts + int64(i)*1000, OrigLen: len(d), Data: d})
			}
			for i := range 2 {
				d := tcpFrame(40001, false, 0x18, 10)
				src.frames = append(src.frames, capture.Packet{Timestamp: ts + int64(20+i)*1000, OrigLen: len(d), Data: d})
			}
			var mu sync.Mutex
			final := map[uint16]FlowRecord{}
			var finalFlows = map[uint16]struct {
				packets, bytes, storedPackets, storedBytes uint64
				cut                                        bool
			}{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			cfg := Config{Source: src, Writer: w, BlockBytes: 1024,
				Cutoff: &cutoff.Config{Enabled: true, Default: cutoff.Limit{Bytes: 500, Keep: keep}},
				Flows: func(r FlowRecord) {
					if !r.Final {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					f := r.Flow
					final[f.Key.SrcPort] = r
					finalFlows[f.Key.SrcPort] = struct {
						packets, bytes, storedPackets, storedBytes uint64
						cut                                        bool
					}{f.TotalPackets(), f.TotalBytes(), f.StoredPackets[0] + f.StoredPackets[1], f.StoredBytes[0] + f.StoredBytes[1], f.Cut}
				}}
			go func() {
				for src.Seen() < uint64(len(src.frames)) {
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(100 * time.Millisecond)
				cancel()
			}()
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			wantStoredBig := uint64(3*254 + 7*54)
			wantStored := int64(12)
			if keep == cutoff.KeepNone {
				wantStoredBig, wantStored = 3*254, 5
			}
			big, small := finalFlows[40000], finalFlows[40001]
			if big.packets != 10 || big.bytes != 10*254 || !big.cut || big.storedBytes != wantStoredBig {
				t.Errorf("big flow: %+v, want 10 packets, %d bytes, %d stored bytes, cut", big, 10*254, wantStoredBig)
			}
			if small.packets != 2 || small.bytes != 2*64 || small.cut || small.storedBytes != 128 || small.storedPackets != 2 {
				t.Errorf("small flow: %+v", small)
			}
			if res.Stored != wantStored {
				t.Errorf("stored %d packets, want %d", res.Stored, wantStored)
			}
			if c := res.Cutoff; c.CutPackets() != 7 || c.FlowsCut != 1 || c.Flows != 2 {
				t.Errorf("cutoff stats %+v", c)
			}
			// What the database holds: caplen and original length of each.
			var n int
			err = db.Packets(s.ID, store.Range{}, func(r store.Record) error {
				n++
				wantCap := r.OrigLen
				if keep == cutoff.KeepHeaders && n >= 4 && n <= 10 {
					wantCap = 54
				}
				if len(r.Data) != wantCap {
					t.Errorf("packet %d: caplen %d len %d, want caplen %d", n, len(r.Data), r.OrigLen, wantCap)
				}
				return nil
			})
			if err != nil || int64(n) != wantStored {
				t.Fatalf("read %d packets (%v), want %d", n, err, wantStored)
			}
		})
	}
}

// TestFlowRecordsWhileActive checks that an active flow is reported
// before it ends, within about FlowInterval.
func TestFlowRecordsWhileActive(t *testing.T) {
	_, _, w := setup(t)
	src := &sliceSource{}
	d := tcpFrame(40000, false, 0x18, 100)
	src.frames = []capture.Packet{{Timestamp: time.Now().UnixNano(), OrigLen: len(d), Data: d}}
	got := make(chan FlowRecord, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	go func() {
		select {
		case r := <-got:
			if r.Final {
				t.Errorf("first record %+v: want an active flow's", r)
			}
		case <-ctx.Done():
			t.Error("no record while the flow was active")
		}
		cancel()
	}()
	_, err := Run(ctx, Config{Source: src, Writer: w, FlowInterval: 50 * time.Millisecond, Flows: func(r FlowRecord) {
		r.Flow = nil // valid only during the call
		select {
		case got <- r:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
}
