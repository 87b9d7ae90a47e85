package recorder

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// replaySource hands out the same frames again and again, a ring block's
// worth (perRead) a Read, until it has delivered total packets; then it
// reports itself drained. It is the capture side of the per-packet
// benchmark: what a live Ring passes to the reader, without the kernel.
type replaySource struct {
	frames  [][]byte
	perRead int
	total   uint64
	seen    uint64
	ts      int64
	pace    time.Duration // sleep this long after each Read (0: none, as fast as it goes)
}

func (s *replaySource) Read(timeout time.Duration, fn func(capture.Packet)) (int, error) {
	if s.pace > 0 {
		time.Sleep(s.pace)
	}
	n := 0
	for ; n < s.perRead && s.seen < s.total; n++ {
		f := s.frames[s.seen%uint64(len(s.frames))]
		s.ts += 1500
		fn(capture.Packet{Timestamp: s.ts, OrigLen: len(f), Data: f})
		s.seen++
	}
	if n == 0 {
		time.Sleep(time.Millisecond)
	}
	return n, nil
}

func (s *replaySource) Stop() error                   { return nil }
func (s *replaySource) Stats() (capture.Stats, error) { return capture.Stats{Received: s.seen}, nil }
func (s *replaySource) Seen() uint64                  { return s.seen }
func (s *replaySource) LinkType() uint32              { return 1 }
func (s *replaySource) Close() error                  { return nil }

// benchFrame builds an Ethernet/IPv4 frame of size bytes between two lab
// hosts, with payload filled by fill.
func benchFrame(rng *rand.Rand, proto byte, size, port int, client, server [4]byte, fill func([]byte)) []byte {
	b := make([]byte, size)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8] = 64
	ip[9] = proto
	src, dst := client, server
	toServer := rng.IntN(2) == 0
	if !toServer {
		src, dst = server, client
	}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	l4 := ip[20:]
	cport := uint16(32768 + rng.IntN(20000))
	sport, dport := cport, uint16(port)
	if !toServer {
		sport, dport = dport, sport
	}
	hl := 8
	if proto == 6 {
		hl = 20
		binary.BigEndian.PutUint32(l4[4:], rng.Uint32())
		l4[12] = 5 << 4
		l4[13] = 0x10
	}
	if proto != 1 {
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
	} else {
		l4[0] = 8
	}
	if fill != nil && len(l4) > hl {
		fill(l4[hl:])
	}
	return b
}

// udp64Frames is trafgen's packet of bench/capture: one flow, 64 bytes of
// UDP payload.
func udp64Frames() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	f := benchFrame(rng, 17, 14+20+8+64, 9999, [4]byte{10, 213, 250, 2}, [4]byte{10, 213, 250, 1}, func(p []byte) {
		for i := range p {
			p[i] = 0x41
		}
	})
	return [][]byte{f}
}

// labMixFrames is bench/mkmix's mix with the lab's payloads, as
// bench/compressbench writes it: 40% acks, 30% small UDP (DNS names or
// random), 27% full-size segments (443 and 22 random, 80 text), 3% ICMP.
func labMixFrames(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(p []byte) {
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
	}
	words := []string{"func ", "return ", "if err != nil {\n", "\t", "package ", "import (\n", "fmt.Sprintf(", "}\n", "for i := range ", "// "}
	text := func(p []byte) {
		for i := 0; i < len(p); {
			i += copy(p[i:], words[rng.IntN(len(words))])
		}
	}
	dns := func(p []byte) {
		names := []string{"www.example.com", "mail.lab.internal", "api.corp.example.net", "cdn.cloud.example.org"}
		copy(p[12:], names[rng.IntN(len(names))])
	}
	out := make([][]byte, 0, n)
	for range n {
		client := [4]byte{10, 213, byte(1 + rng.IntN(4)), byte(1 + rng.IntN(250))}
		server := [4]byte{10, 213, 0, byte(1 + rng.IntN(20))}
		r := rng.IntN(100)
		var f []byte
		switch {
		case r < 40:
			f = benchFrame(rng, 6, 54+rng.IntN(13), 443, client, server, nil)
		case r < 70:
			if rng.IntN(3) == 0 {
				f = benchFrame(rng, 17, 60+rng.IntN(140), 5000+rng.IntN(100), client, server, random)
			} else {
				f = benchFrame(rng, 17, 60+rng.IntN(140), 53, client, server, dns)
			}
		case r < 97:
			switch port := []int{443, 80, 22}[rng.IntN(3)]; port {
			case 80:
				f = benchFrame(rng, 6, 1514, port, client, server, text)
			default:
				f = benchFrame(rng, 6, 1514, port, client, server, random)
			}
		default:
			f = benchFrame(rng, 1, 98, 0, client, server, nil)
		}
		out = append(out, f)
	}
	return out
}

// tlsFrames are full-size segments of encrypted bulk transfers (random
// payloads), which no compressor shrinks.
func tlsFrames(n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([][]byte, 0, n)
	for range n {
		client := [4]byte{10, 213, byte(1 + rng.IntN(4)), byte(1 + rng.IntN(250))}
		out = append(out, benchFrame(rng, 6, 1514, 443, client, [4]byte{10, 213, 0, 7}, func(p []byte) {
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
		}))
	}
	return out
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecordPath is the per-packet work of a capture after the ring:
// the reader copying packets into blocks, the writer sketching each block
// for the index, compressing it (zstd or S2) or not, inserting it and
// committing on the recorder's clock, into a database as capture opens
// one. One op is one packet; cpu-ns/pkt is this process's CPU (both
// goroutines, user and system) a packet, the figure bench/capture
// compares with tcpdump's.
//
//	go test -run '^$' -bench RecordPath -benchtime 400000x ./internal/recorder/
func BenchmarkRecordPath(b *testing.B) {
	for _, w := range []struct {
		name   string
		frames [][]byte
	}{
		{"udp64", udp64Frames()},
		{"labmix", labMixFrames(4096)},
		{"tls", tlsFrames(2048)},
	} {
		for _, comp := range []store.Compression{{None: true}, {}, {S2: true}} {
			b.Run(w.name+"/"+comp.String(), func(b *testing.B) {
				db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{Create: true})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				s := &store.Session{LinkType: 1, Snaplen: 65535}
				if err := db.CreateSession(s); err != nil {
					b.Fatal(err)
				}
				wr, err := db.NewWriter(s.ID)
				if err != nil {
					b.Fatal(err)
				}
				defer wr.Close()
				if err := wr.SetCompression(comp); err != nil {
					b.Fatal(err)
				}
				// As capture does alone with its database: a rollback
				// journal (store.BeginBulk).
				if end, ok := db.BeginBulk(); ok {
					defer end()
				}
				src := &replaySource{frames: w.frames, perRead: 4096, total: uint64(b.N), ts: 1_764_000_000e9}
				b.ReportAllocs()
				b.ResetTimer()
				cpu0 := cpuTime()
				res, err := Run(context.Background(), Config{Source: src, Writer: wr, Count: int64(b.N)})
				cpu := cpuTime() - cpu0
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if res.Stored != int64(b.N) {
					b.Fatalf("stored %d of %d packets", res.Stored, b.N)
				}
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
				// The source is faster than any writer: the preparers store
				// the blocks raw that find the queue over half full.
				b.ReportMetric(float64(res.CompressionSkipped), "skipped-blocks")
			})
		}
	}
}
