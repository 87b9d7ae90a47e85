package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/rewrite"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// The engine's tests run without privileges: outputs are slices, the
// clock is fake, and what each test expects follows from the packets'
// timestamps and sizes alone.

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
)

// udp is an Ethernet/IPv4/UDP frame of size bytes whose payload starts
// with id.
func udp(id uint32, size int) []byte {
	payload := make([]byte, size-42)
	binary.BigEndian.PutUint32(payload, id)
	return testkit.UDPFrame(macB, macA, -1, net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 2), 9, payload)
}

// idOf reads udp's id back.
func idOf(f []byte) uint32 { return binary.BigEndian.Uint32(f[42:]) }

// records are the frames as a Source's packets, at base + offsets[i].
func records(offsets []time.Duration, frames ...[]byte) sliceSource {
	const base = int64(1_700_000_000e9)
	var src sliceSource
	for i, f := range frames {
		src = append(src, store.Record{Number: int64(i + 1), Timestamp: base + int64(offsets[i]), OrigLen: len(f), LinkType: rewrite.LinkEthernet, Data: f})
	}
	return src
}

// sentFrame is a frame a slice output took, and when (by the clock).
type sentFrame struct {
	at   time.Time
	data []byte
}

// timedSlice is a TimedSender into a slice; its driver time is the
// clock's reading at Send.
type timedSlice struct {
	clock  Clock
	max    int
	sent   []sentFrame
	primed int
}

func (s *timedSlice) Send(f []byte, measure bool) error {
	s.sent = append(s.sent, sentFrame{s.clock.Now(), bytes.Clone(f)})
	return nil
}
func (s *timedSlice) Stamp() (time.Time, bool) { return s.sent[len(s.sent)-1].at, true }
func (s *timedSlice) Prime(int)                { s.primed++ }
func (s *timedSlice) MaxFrame() int            { return s.max }
func (s *timedSlice) Stats() capture.SendStats { return capture.SendStats{Retries: 2} }

// batchSlice is a BatchSender into a slice: queued frames move to flushed
// on Flush. It refuses frames over max (when set) as the kernel does, and
// calls after (when set) with the number of frames queued so far.
type batchSlice struct {
	max     int
	queued  [][]byte
	flushed [][]byte
	flushes int
	largest int // the most frames one Flush handed on
	after   func(n int) error
}

func (s *batchSlice) Queue(f []byte) error {
	if s.max > 0 && len(f) > s.max {
		return fmt.Errorf("queue: %w", capture.ErrFrameTooBig)
	}
	s.queued = append(s.queued, bytes.Clone(f))
	if s.after != nil {
		return s.after(len(s.queued) + len(s.flushed))
	}
	return nil
}

func (s *batchSlice) Flush() error {
	s.flushed = append(s.flushed, s.queued...)
	s.largest = max(s.largest, len(s.queued))
	s.queued = nil
	s.flushes++
	return nil
}
func (s *batchSlice) Stats() capture.SendStats { return capture.SendStats{Retries: 3} }

// TestRunPacedKeepsTheSchedule plays packets at twice their recorded
// speed on a fake clock: each frame reaches its sender within 2 us of
// start + (ts - ts0) / 2; a frame over the interface's largest is skipped,
// the schedule of the others unchanged.
func TestRunPacedKeepsTheSchedule(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0), perNow: 100 * time.Nanosecond}
	offsets := []time.Duration{0, 50 * time.Microsecond, 20 * time.Millisecond, 20100 * time.Microsecond, 30 * time.Millisecond, 40 * time.Millisecond, time.Second}
	var frames [][]byte
	var wantBytes int64
	for i := range offsets {
		size := 60 + 100*i
		if i == 4 {
			size = 1600 // over MaxFrame
		} else {
			wantBytes += int64(size)
		}
		frames = append(frames, udp(uint32(i), size))
	}
	out := &timedSlice{clock: clk, max: 1514}
	st, err := Run(context.Background(), Config{Pace: Pace{Speed: 2}, Clock: clk}, records(offsets, frames...), []*Output{{Name: "slice", Timed: out}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 6 || st.Bytes != wantBytes || st.Skipped != 1 || st.Retries != 2 || st.Interrupted {
		t.Errorf("stats %+v: want 6 packets, %d bytes, 1 skipped, 2 retries", st, wantBytes)
	}
	if len(out.sent) != 6 {
		t.Fatalf("%d frames sent, want 6", len(out.sent))
	}
	j := 0
	for i, off := range offsets {
		if i == 4 {
			continue
		}
		got := out.sent[j]
		j++
		if idOf(got.data) != uint32(i) {
			t.Errorf("frame %d sent in place of %d", idOf(got.data), i)
		}
		due := st.Start.Add(off / 2)
		if d := got.at.Sub(due); d < -2*time.Microsecond || d > 2*time.Microsecond {
			t.Errorf("frame %d sent %v from its deadline", i, d)
		}
	}
	if st.Elapsed < 500*time.Millisecond || st.Elapsed > 501*time.Millisecond {
		t.Errorf("elapsed %v, want the schedule's 500 ms", st.Elapsed)
	}
	if st.Errors.Max > 2*time.Microsecond || st.Drift > 2*time.Microsecond || st.Drift < -2*time.Microsecond {
		t.Errorf("schedule error %+v, drift %v", st.Errors, st.Drift)
	}
	if out.primed == 0 {
		t.Error("the send path was never primed after a pause")
	}
}

// TestRunPacedLoopsContinue: with recorded timing, a pass's first packet
// is due with the last of the pass before, the rest keeping their gaps.
func TestRunPacedLoopsContinue(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0), perNow: 100 * time.Nanosecond}
	offsets := []time.Duration{0, time.Millisecond, 3 * time.Millisecond}
	out := &timedSlice{clock: clk, max: 1514}
	st, err := Run(context.Background(), Config{Pace: Pace{Speed: 1}, Clock: clk, Loop: 3},
		records(offsets, udp(0, 100), udp(1, 100), udp(2, 100)), []*Output{{Name: "slice", Timed: out}})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, 1, 3, 3, 4, 6, 6, 7, 9}
	if len(out.sent) != len(want) || st.Packets != int64(len(want)) || st.Backward != 0 {
		t.Fatalf("%d frames sent, %d counted, %d timestamps back: want %d, none back (a new pass is not a jump back)", len(out.sent), st.Packets, st.Backward, len(want))
	}
	for i, s := range out.sent {
		if d := s.at.Sub(st.Start.Add(want[i] * time.Millisecond)); d < -2*time.Microsecond || d > 2*time.Microsecond {
			t.Errorf("frame %d (pass %d) sent %v from its deadline", i, i/3, d)
		}
	}
}

// TestRunTopSpeedQueuesInBatches: at top speed every frame is queued in
// order and handed on every 256 frames and at the end; a frame the
// interface refuses is skipped; progress is told every 256 frames.
func TestRunTopSpeedQueuesInBatches(t *testing.T) {
	const n = 600
	offsets := make([]time.Duration, n)
	var frames [][]byte
	var sizes []int64
	for i := range n {
		size := 60 + i%900
		if i == 300 {
			size = 1200
		}
		frames = append(frames, udp(uint32(i), size))
		sizes = append(sizes, int64(size))
		offsets[i] = time.Duration(i) * time.Second
	}
	out := &batchSlice{max: 1000}
	type prog struct{ packets, bytes int64 }
	var progress []prog
	cfg := Config{Progress: func(p, b int64) { progress = append(progress, prog{p, b}) }}
	start := time.Now()
	st, err := Run(context.Background(), cfg, records(offsets, frames...), []*Output{{Name: "slice", Batch: out}})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("a top-speed replay of %d packets %v apart took %v", n, time.Second, time.Since(start))
	}
	if st.Packets != n-1 || st.Skipped != 1 || st.Retries != 3 {
		t.Errorf("stats %+v: want %d packets, 1 skipped", st, n-1)
	}
	if len(out.queued) != 0 || len(out.flushed) != n-1 || out.flushes != 3 || out.largest != 256 {
		t.Errorf("%d frames flushed in %d flushes of at most %d, %d left queued: want %d in 3 (256, 256, the rest at the end), none left",
			len(out.flushed), out.flushes, out.largest, len(out.queued), n-1)
	}
	want := uint32(0)
	for _, f := range out.flushed {
		if want == 300 {
			want++
		}
		if idOf(f) != want {
			t.Fatalf("frame %d sent in place of %d", idOf(f), want)
		}
		want++
	}
	// Progress after frames 256 and 512: the skipped frame 300 is not one.
	sum := func(k int) (b int64) {
		for i, s := range sizes[:k+1] {
			if i != 300 {
				b += s
			}
		}
		return b
	}
	if wantProg := []prog{{256, sum(255)}, {512, sum(512)}}; fmt.Sprint(progress) != fmt.Sprint(wantProg) {
		t.Errorf("progress %v, want %v", progress, wantProg)
	}
}

// TestRunSplitsByDirection: with two outputs, a connection's client
// (the sender of its SYN) sends on the first, its server on the second,
// and frames that are not IP go with the clients'.
func TestRunSplitsByDirection(t *testing.T) {
	arp := append(append(append([]byte{}, macB...), macA...), 0x08, 0x06)
	arp = append(arp, make([]byte, 28)...)
	frames := [][]byte{
		frame("10.0.0.1", "10.0.0.2", 6, 40000, 80, syn),
		frame("10.0.0.2", "10.0.0.1", 6, 80, 40000, synAck),
		frame("10.0.0.1", "10.0.0.2", 6, 40000, 80, ack),
		frame("10.0.0.2", "10.0.0.1", 6, 80, 40000, ack),
		arp,
	}
	clients, servers := &batchSlice{}, &batchSlice{}
	st, err := Run(context.Background(), Config{}, records(make([]time.Duration, len(frames)), frames...),
		[]*Output{{Name: "c", Batch: clients}, {Name: "s", Batch: servers}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 5 || st.ServerPackets != 2 {
		t.Errorf("%d packets, %d from servers: want 5, 2", st.Packets, st.ServerPackets)
	}
	wantC, wantS := [][]byte{frames[0], frames[2], frames[4]}, [][]byte{frames[1], frames[3]}
	if fmt.Sprint(clients.flushed) != fmt.Sprint(wantC) || fmt.Sprint(servers.flushed) != fmt.Sprint(wantS) {
		t.Errorf("clients' output got %d frames, servers' %d: want frames 1, 3, 5 and 2, 4", len(clients.flushed), len(servers.flushed))
	}
}

// tcpFrame is an Ethernet/IPv4/TCP frame with payload bytes of data.
func tcpFrame(payload int) []byte {
	f := append(append(append([]byte{}, macB...), macA...), 0x08, 0x00)
	ip := make([]byte, 40+payload)
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], net.IPv4(10, 0, 0, 1).To4())
	copy(ip[16:], net.IPv4(10, 0, 0, 2).To4())
	binary.BigEndian.PutUint16(ip[20:], 40000)
	binary.BigEndian.PutUint16(ip[22:], 80)
	ip[32], ip[33] = 0x50, ack
	for i := range payload {
		ip[40+i] = byte(i)
	}
	return append(f, ip...)
}

// TestRunSegmentsOverTheGap: a TCP frame of 3000 bytes of payload leaves
// an interface of MTU 1500 as segments of 1460, 1460 and 80 bytes of
// payload, the second and third a third and two thirds of the way to the
// next frame; a frame over the MTU that is not IP is skipped.
func TestRunSegmentsOverTheGap(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1000, 0), perNow: 100 * time.Nanosecond}
	notIP := append(append(append([]byte{}, macB...), macA...), 0x88, 0xb5)
	notIP = append(notIP, make([]byte, 2000)...)
	small := udp(7, 100)
	offsets := []time.Duration{0, time.Millisecond, 4 * time.Millisecond}
	out := &timedSlice{clock: clk, max: 1514}
	st, err := Run(context.Background(), Config{Pace: Pace{Speed: 1}, Clock: clk, Segment: true},
		records(offsets, notIP, tcpFrame(3000), small), []*Output{{Name: "slice", MTU: 1500, Timed: out}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 4 || st.Split != 1 || st.Skipped != 1 {
		t.Errorf("stats %+v: want 4 packets, 1 split, 1 skipped", st)
	}
	if len(out.sent) != 4 {
		t.Fatalf("%d frames sent, want 4", len(out.sent))
	}
	wantLen := []int{14 + 40 + 1460, 14 + 40 + 1460, 14 + 40 + 80, len(small)}
	wantAt := []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond}
	for i, s := range out.sent {
		if len(s.data) != wantLen[i] {
			t.Errorf("frame %d: %d bytes, want %d", i, len(s.data), wantLen[i])
		}
		// The schedule starts at the first packet sent: the one skipped
		// never had a place in it.
		if d := s.at.Sub(st.Start.Add(wantAt[i])); d < -2*time.Microsecond || d > 2*time.Microsecond {
			t.Errorf("frame %d sent %v from its place in the gap", i, d)
		}
	}
	if got := binary.BigEndian.Uint32(out.sent[1].data[14+24:]); got != 1460 {
		t.Errorf("second segment's sequence number %d, want 1460", got)
	}
}

// TestRunTruncatesToTheMTU: --mtu-trunc cuts an IP packet of 1400 bytes
// to an MTU of 1000, its length field with it.
func TestRunTruncatesToTheMTU(t *testing.T) {
	big, small := udp(1, 14+1400), udp(2, 200)
	out := &batchSlice{}
	st, err := Run(context.Background(), Config{Truncate: true}, records(make([]time.Duration, 2), big, small),
		[]*Output{{Name: "slice", MTU: 1000, Batch: out}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Truncated != 1 || st.Packets != 2 || len(out.flushed) != 2 {
		t.Fatalf("stats %+v, %d frames: want 2 packets, 1 truncated", st, len(out.flushed))
	}
	if f := out.flushed[0]; len(f) != 14+1000 || binary.BigEndian.Uint16(f[16:]) != 1000 {
		t.Errorf("truncated frame: %d bytes, IP length %d; want 1014, 1000", len(f), binary.BigEndian.Uint16(f[16:]))
	}
	if !bytes.Equal(out.flushed[1], small) {
		t.Error("a frame within the MTU was changed")
	}
}

// TestRunCountsRewritesOfFramesSent: a rewritten frame counts once sent,
// not when the interface refuses it.
func TestRunCountsRewritesOfFramesSent(t *testing.T) {
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	frames := [][]byte{udp(0, 100), udp(1, 1200), udp(2, 100), udp(3, 100)}
	out := &batchSlice{max: 1000}
	st, err := Run(context.Background(), Config{Rewrite: rewrite.Config{DstMAC: dst}}, records(make([]time.Duration, 4), frames...),
		[]*Output{{Name: "slice", Batch: out}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rewritten != 3 || st.Skipped != 1 || st.Packets != 3 {
		t.Errorf("stats %+v: want 3 packets rewritten, 1 skipped", st)
	}
	for _, f := range out.flushed {
		if !bytes.Equal(f[:6], dst) {
			t.Errorf("frame %d sent to %v", idOf(f), net.HardwareAddr(f[:6]))
		}
	}
}

// TestRunLoopsAndCount: Loop plays the packets again, in order; Count
// stops the replay across passes, also one looping until interrupted.
func TestRunLoopsAndCount(t *testing.T) {
	var frames [][]byte
	for i := range 10 {
		frames = append(frames, udp(uint32(i), 100))
	}
	src := records(make([]time.Duration, 10), frames...)
	for _, c := range []struct {
		loop, count int64
		want        int
	}{{0, 0, 10}, {3, 0, 30}, {3, 25, 25}, {LoopForever, 35, 35}} {
		out := &batchSlice{}
		st, err := Run(context.Background(), Config{Loop: c.loop, Count: c.count}, src, []*Output{{Name: "slice", Batch: out}})
		if err != nil {
			t.Fatal(err)
		}
		if st.Packets != int64(c.want) || len(out.flushed) != c.want {
			t.Errorf("loop %d count %d: %d packets, %d frames; want %d", c.loop, c.count, st.Packets, len(out.flushed), c.want)
			continue
		}
		for i, f := range out.flushed {
			if idOf(f) != uint32(i%10) {
				t.Errorf("loop %d count %d: frame %d is packet %d", c.loop, c.count, i, idOf(f))
				break
			}
		}
	}
}

// TestRunInterruptedOrFailed: a cancelled replay ends without an error,
// saying so, with what it queued sent; a failing sender stops it with
// its error and the count of what went before.
func TestRunInterruptedOrFailed(t *testing.T) {
	var frames [][]byte
	for i := range 300 {
		frames = append(frames, udp(uint32(i), 100))
	}
	src := records(make([]time.Duration, len(frames)), frames...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &batchSlice{after: func(n int) error {
		if n == 100 {
			cancel()
		}
		return nil
	}}
	st, err := Run(ctx, Config{Loop: LoopForever}, src, []*Output{{Name: "slice", Batch: out}})
	if err != nil || !st.Interrupted || st.Packets != 100 || len(out.flushed) != 100 {
		t.Errorf("cancelled after 100 frames: %v, %+v, %d flushed", err, st, len(out.flushed))
	}

	broken := errors.New("interface went down")
	out = &batchSlice{after: func(n int) error {
		if n == 50 {
			return broken
		}
		return nil
	}}
	st, err = Run(context.Background(), Config{}, src, []*Output{{Name: "slice", Batch: out}})
	if !errors.Is(err, broken) || st.Interrupted || st.Packets != 49 {
		t.Errorf("sender failing at frame 50: %v, %+v", err, st)
	}
}

// TestRunRefusesWhatItCannotDo: outputs without the sender the pace
// needs, no outputs, three, or segment and truncate together.
func TestRunRefusesWhatItCannotDo(t *testing.T) {
	src := records([]time.Duration{0}, udp(0, 100))
	b := &Output{Name: "b", Batch: &batchSlice{}}
	for name, c := range map[string]struct {
		cfg  Config
		outs []*Output
	}{
		"paced without a timed sender":  {Config{Pace: Pace{Speed: 1}}, []*Output{b}},
		"top speed without a batch one": {Config{}, []*Output{{Name: "t", Timed: &timedSlice{}}}},
		"no output":                     {Config{}, nil},
		"three outputs":                 {Config{}, []*Output{b, b, b}},
		"segment and truncate":          {Config{Segment: true, Truncate: true}, []*Output{b}},
	} {
		if _, err := Run(context.Background(), c.cfg, src, c.outs); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestPreviewShowsTheSchedule: Preview yields one pass, rewritten, each
// packet with its offset on the schedule, at most Count of them.
func TestPreviewShowsTheSchedule(t *testing.T) {
	dst := net.HardwareAddr{2, 0, 0, 0, 0, 0x77}
	offsets := []time.Duration{0, 3 * time.Millisecond, 10 * time.Millisecond, time.Second}
	var frames [][]byte
	for i := range offsets {
		frames = append(frames, udp(uint32(i), 100))
	}
	var got []time.Duration
	err := Preview(context.Background(), Config{Pace: Pace{Speed: 2}, Rewrite: rewrite.Config{DstMAC: dst}, Loop: 5, Count: 3},
		records(offsets, frames...), func(rec store.Record, due time.Duration) error {
			if !bytes.Equal(rec.Data[:6], dst) {
				t.Errorf("packet %d not rewritten", rec.Number)
			}
			got = append(got, due)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{0, 1500 * time.Microsecond, 5 * time.Millisecond}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offsets %v, want %v", got, want)
	}
}

// TestRunSkipsUnfitFrames: a frame the interface cannot carry is not
// sent but counted, paced or at top speed, and the rest go on: a raw IP
// packet on an Ethernet interface (a pcapng that describes its
// interfaces after its first packet gets past the CLI's check) went out
// read as MAC addresses; a frame shorter than the Ethernet header ended a
// paced replay with EINVAL, and an empty one was counted as sent.
func TestRunSkipsUnfitFrames(t *testing.T) {
	good := udp(1, 200)
	src := records(make([]time.Duration, 5), good, udp(2, 200), make([]byte, 10), nil, udp(3, 200))
	src[1].LinkType = 101 // raw IP
	for _, paced := range []bool{false, true} {
		out := &Output{Name: "eth", LinkType: rewrite.LinkEthernet}
		batch, timed := &batchSlice{}, &timedSlice{max: 1 << 16}
		cfg := Config{}
		if paced {
			clk := &fakeClock{now: time.Unix(1000, 0), perNow: 100 * time.Nanosecond}
			cfg.Pace, cfg.Clock, timed.clock = Pace{Speed: 1000}, clk, clk
			out.Timed = timed
		} else {
			out.Batch = batch
		}
		st, err := Run(context.Background(), cfg, src, []*Output{out})
		if err != nil {
			t.Fatalf("paced %v: %v", paced, err)
		}
		sent := len(batch.flushed) + len(timed.sent)
		if st.Unfit != 3 || st.Packets != 2 || sent != 2 {
			t.Errorf("paced %v: stats %+v, %d frames sent; want 2 sent, 3 unfit", paced, st, sent)
		}
	}
}
