package main

import (
	"encoding/binary"
	"fmt"
	"log"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
)

// recordHeader is the bytes a stored packet carries before its data.
const recordHeader = 16

// leastCost prints, for each encoder, its CPU per byte saved on the
// three streams the mix can be cut into, and the least CPU a packet that
// saving 20% of the mix's block bytes costs with it: no choice of what to
// compress does better than the encoder's cheapest saved byte.
func leastCost(pkts []pcapio.Packet, runs int) {
	var total int64
	var text, headers, whole []byte
	for _, p := range pkts {
		total += int64(recordHeader + len(p.Data))
		var rec [recordHeader]byte
		binary.LittleEndian.PutUint64(rec[:], uint64(p.Timestamp))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p.Data)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(p.OrigLen))
		whole = append(append(whole, rec[:]...), p.Data...)
		hl := headerLen(p.Data)
		headers = append(append(headers, rec[:]...), p.Data[:hl]...)
		if isPort80(p.Data) {
			text = append(text, p.Data[hl:]...)
		}
	}
	perPacket := float64(total) / float64(len(pkts))
	fmt.Printf("mix: %d packets, %.1f block bytes a packet; text payloads %.1f%% of them, headers %.1f%%\n",
		len(pkts), perPacket, 100*float64(len(text))/float64(total), 100*float64(len(headers))/float64(total))
	zstdStore, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20), zstd.WithNoEntropyCompression(true), zstd.WithSingleSegment(true))
	if err != nil {
		log.Fatal(err)
	}
	zstdEntropy, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20), zstd.WithSingleSegment(true))
	if err != nil {
		log.Fatal(err)
	}
	var scratch []byte
	encoders := []struct {
		name string
		enc  func(dst, src []byte) []byte
	}{
		{"zstd-1 (the store's)", func(dst, src []byte) []byte { return zstdStore.EncodeAll(src, dst[:0]) }},
		{"zstd-1 with entropy", func(dst, src []byte) []byte { return zstdEntropy.EncodeAll(src, dst[:0]) }},
		{"s2", func(dst, src []byte) []byte {
			if n := s2.MaxEncodedLen(len(src)); cap(scratch) < n {
				scratch = make([]byte, n)
			}
			return s2.Encode(scratch[:cap(scratch)], src)
		}},
	}
	streams := []struct {
		name string
		data []byte
	}{{"text", text}, {"headers", headers}, {"whole blocks", whole}}
	need := 0.2 * perPacket
	for _, e := range encoders {
		best := 0.0
		for _, st := range streams {
			var cpus []time.Duration
			var in, out int
			for range runs {
				in, out = 0, 0
				var dst []byte
				c0 := cpuSelf()
				for off := 0; off < len(st.data); off += 1 << 20 {
					blk := st.data[off:min(off+1<<20, len(st.data))]
					dst = e.enc(dst, blk)
					in += len(blk)
					out += len(dst)
				}
				cpus = append(cpus, cpuSelf()-c0)
			}
			perByte := float64(median(cpus).Nanoseconds()) / float64(in)
			saved := 1 - float64(out)/float64(in)
			perSaved := perByte / saved
			if saved > 0 && (best == 0 || perSaved < best) {
				best = perSaved
			}
			fmt.Printf("%-22s %-13s %6.3f ns a byte, saves %5.1f%%: %6.3f ns a byte saved\n", e.name, st.name, perByte, 100*saved, perSaved)
		}
		fmt.Printf("%-22s saving 20%% (%.1f bytes a packet) costs at least %.0f ns a packet\n", e.name, need, need*best)
	}
}

// headerLen is how much of an Ethernet frame from the mix is headers:
// Ethernet, IPv4 and TCP or UDP (the mix has no options).
func headerLen(d []byte) int {
	if len(d) < 34 || d[12] != 8 || d[13] != 0 {
		return len(d)
	}
	switch d[23] {
	case 6:
		return min(len(d), 54)
	case 17:
		return min(len(d), 42)
	}
	return len(d)
}

func isPort80(d []byte) bool {
	if len(d) < 54 || d[12] != 8 || d[13] != 0 || d[23] != 6 {
		return false
	}
	return binary.BigEndian.Uint16(d[34:]) == 80 || binary.BigEndian.Uint16(d[36:]) == 80
}
