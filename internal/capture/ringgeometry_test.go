package capture

import (
	"testing"
	"time"
)

// TestRingRidesOutStalls: the geometry and block timeout a ring gets from
// its size. A ring of blocks handed over after tmo each rides out
// blocks x tmo of stall at low rates, where the kernel hands its blocks
// over mostly empty; tcpdump's default ring (8 blocks of 256 KiB, handed
// over after 1 s) rides out 7 to 8 s. Ours must ride out as long (at
// least 7 s) whenever the bound on the timeout, which bounds how long a
// packet of a trickle waits for the reader, allows it; that bound is a
// quarter of tcpdump's 1 s, and the default ring rides out 5 s. Rings of
// 16 MiB and more keep 1 MiB blocks, the top-speed geometry. Before, the
// default ring was 10 blocks of 1 MiB handed over after 10 ms: 100 ms of
// stall.
func TestRingRidesOutStalls(t *testing.T) {
	const (
		kib = 1 << 10
		mib = 1 << 20
	)
	for _, c := range []struct {
		size, snap  int
		block, nblk int
		tmo         time.Duration
	}{
		{10 * mib, 65535, 512 * kib, 20, 250 * time.Millisecond},  // capture's default
		{64 * mib, 65535, 1 * mib, 64, 125 * time.Millisecond},    // the daemon's default
		{2 * mib, 65535, 128 * kib, 16, 250 * time.Millisecond},   // tcpdump's size
		{10 * mib, 262144, 512 * kib, 20, 250 * time.Millisecond}, // -s 0
		{16 * mib, 65535, 1 * mib, 16, 250 * time.Millisecond},
		{1 << 30, 65535, 1 * mib, 1024, 10 * time.Millisecond},
		{64 * kib, 65535, 128 * kib, 4, 250 * time.Millisecond}, // MinBufferSize
		{4 * mib, 100, 256 * kib, 16, 250 * time.Millisecond},
		{1 * mib, 100, 64 * kib, 16, 250 * time.Millisecond},
	} {
		bs, n := ringGeometry(c.size, c.snap)
		tmo := blockTimeout(n)
		if bs != c.block || n != c.nblk || tmo != c.tmo {
			t.Errorf("ring of %d bytes, snaplen %d: %d blocks of %d, timeout %v; want %d of %d, %v", c.size, c.snap, n, bs, tmo, c.nblk, c.block, c.tmo)
		}
		if bs < c.snap+blkHdrLen+pktHdrLen {
			t.Errorf("ring of %d bytes: block of %d bytes cannot hold a packet of snaplen %d", c.size, bs, c.snap)
		}
		if stall := time.Duration(n) * tmo; stall < 7*time.Second && tmo < MaxBlockTimeout {
			t.Errorf("ring of %d bytes, snaplen %d: rides out %v at low rates, tcpdump's 7 s", c.size, c.snap, stall)
		}
		if tmo > time.Second/4 || tmo < MinBlockTimeout {
			t.Errorf("ring of %d bytes: timeout %v", c.size, tmo)
		}
	}
}
