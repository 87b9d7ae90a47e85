// Command mkmix writes the lab's traffic mix as a pcap file, for the import,
// export and query benchmarks: about 40% TCP acks of 54-66 bytes, 30% small
// UDP datagrams (many of them DNS), 27% full-size 1514-byte TCP segments and
// 3% ICMP echo, between a few hundred hosts of 10.213.0.0/16, one packet
// every 2.5 us, or with -gap-min/-gap-max, at irregular gaps.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
)

func main() {
	n := flag.Int("n", 2_000_000, "packets")
	out := flag.String("o", "mix.pcap", "output file")
	gapMin := flag.Duration("gap-min", 0, "with gap-max: irregular gaps, log-uniform between the two")
	gapMax := flag.Duration("gap-max", 0, "largest gap between packets")
	flag.Parse()
	if err := run(*n, *out, *gapMin, *gapMax); err != nil {
		fmt.Fprintln(os.Stderr, "mkmix:", err)
		os.Exit(1)
	}
}

func run(n int, path string, gapMin, gapMax time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := pcapio.NewPcapWriter(bw, 1, 65535, true)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1514)
	ts := int64(1_764_000_000e9)
	for i := 0; i < n; i++ {
		ts += 2500
		if gapMax > 0 {
			lo, hi := math.Log(float64(gapMin)), math.Log(float64(gapMax))
			ts += int64(math.Exp(lo+rng.Float64()*(hi-lo))) - 2500
		}
		r := rng.IntN(100)
		var frame []byte
		switch {
		case r < 40:
			frame = packet(buf, rng, 6, 54+rng.IntN(13), 443)
		case r < 70:
			port := 53
			if rng.IntN(3) == 0 {
				port = 5000 + rng.IntN(100)
			}
			frame = packet(buf, rng, 17, 60+rng.IntN(140), port)
		case r < 97:
			frame = packet(buf, rng, 6, 1514, []int{443, 80, 22}[rng.IntN(3)])
		default:
			frame = packet(buf, rng, 1, 98, 0)
		}
		if err := w.WritePacket(pcapio.Packet{Timestamp: ts, OrigLen: len(frame), LinkType: 1, Data: frame}); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// packet builds an Ethernet/IPv4 frame of the given size and protocol
// between two hosts of the lab; port is the server side.
func packet(buf []byte, rng *rand.Rand, proto byte, size, port int) []byte {
	b := buf[:size]
	clear(b)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 1})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	ip[8] = 64
	ip[9] = proto
	client := [4]byte{10, 213, byte(1 + rng.IntN(4)), byte(1 + rng.IntN(250))}
	server := [4]byte{10, 213, 0, byte(1 + rng.IntN(20))}
	src, dst := client, server
	toServer := rng.IntN(2) == 0
	if !toServer {
		src, dst = server, client
	}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	l4 := ip[20:]
	cport := uint16(32768 + rng.IntN(20000))
	sport, dport := cport, uint16(port)
	if !toServer {
		sport, dport = dport, sport
	}
	switch proto {
	case 6:
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint32(l4[4:], rng.Uint32())
		binary.BigEndian.PutUint32(l4[8:], rng.Uint32())
		l4[12] = 5 << 4
		l4[13] = 0x10 // ACK
		if size == 1514 {
			l4[13] = 0x18 // PSH ACK
		}
		binary.BigEndian.PutUint16(l4[14:], 502)
	case 17:
		binary.BigEndian.PutUint16(l4[0:], sport)
		binary.BigEndian.PutUint16(l4[2:], dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(size-34))
	case 1:
		l4[0] = 8
		binary.BigEndian.PutUint16(l4[4:], uint16(rng.IntN(65536)))
	}
	return b
}
