// Package benchstore fills stores for the benches: synthetic recordings of
// a known rate and size, as the daemon would have written them.
package benchstore

import (
	"encoding/binary"
	"log"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Base is the time of the first packet Fill writes.
const Base = int64(1_780_000_000e9)

// Fill records bytes of 1000-byte packets, 20,000 a second of packet time
// from Base, into segments of segBytes of the store directory dir (created
// if needed); it returns the packet time spanned. Errors end the bench.
func Fill(dir, iface string, bytes, segBytes int64, ring int) time.Duration {
	a, err := archive.Open(dir, archive.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	a.Close()
	rec, err := archive.NewRecording(dir, archive.RecordingConfig{Interface: iface, Ring: ring, LinkType: 1, Snaplen: 65535, MaxBytes: segBytes})
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Close()
	const size, gap = 1000, int64(50_000) // 20k packets/s
	data := make([]byte, size)
	var b store.Block
	var written int64
	i := int64(0)
	for written < bytes {
		b.Reset(1)
		for b.Count < 250 {
			binary.BigEndian.PutUint64(data[14:], uint64(i))
			b.Append(Base+i*gap, size, data)
			i++
		}
		if err := rec.Append(&b); err != nil {
			log.Fatal(err)
		}
		written += int64(len(b.Data))
		if i%(250*16) == 0 {
			if err := rec.Commit(); err != nil {
				log.Fatal(err)
			}
		}
	}
	if err := rec.Commit(); err != nil {
		log.Fatal(err)
	}
	return time.Duration(i * gap)
}
