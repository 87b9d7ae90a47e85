package capture

import "time"

// A ring's geometry (block size and count) and its block timeout are
// chosen together from its size, so that its bytes buy stall time at
// every rate: the time the reader may stop (a GC pause, a writer waiting
// on the disk, a process stopped) before the kernel drops a packet.
//
// The kernel (TPACKET_V3) fills one block at a time and hands it over
// when it is full or when the block timeout has passed since it was
// opened, full or not (an empty block is kept). A reader that stops
// leaves the kernel the blocks it has returned: the kernel drops once
// every one of them is handed over. At a rate of R bytes a second (each
// packet with its 80-odd bytes of ring header) a block then holds
// min(blockSize, R x timeout) bytes, and a ring of blocks x blockSize =
// size bytes rides out
//
//	blocks x min(blockSize/R, timeout) = min(size/R, blocks x timeout)
//
// size/R is all the bytes can buy; blocks x timeout caps it at low
// rates, where blocks are handed over mostly empty. With 10 blocks of
// 1 MiB and 10 ms, 10 MiB rode out 100 ms at 1,000 packets a second
// (tcpdump's 2 MiB ring, 8 blocks and a second each, rode out seconds).
// So a ring is cut into at least ringBlocks blocks, and the timeout is
// chosen so that blocks x timeout is stallTarget: the ring rides out
// min(size/R, stallTarget) at every rate, within the bounds on the
// timeout (the default 10 MiB: 20 blocks of 512 KiB, 250 ms, 5 s; the
// daemon's 64 MiB: 64 blocks of 1 MiB, 125 ms, 8 s).
//
// The timeout is also the longest a packet of a slow trickle waits in
// the ring before the reader sees it (what a live query, a capture
// piped on, or a count reached waits for): MaxBlockTimeout bounds it,
// a quarter of tcpdump's default (1 s). MinBlockTimeout keeps a large
// ring's blocks from being handed over more often than before.
//
// Blocks are not made smaller than that: each handed-over block costs a
// wake-up of the reader when it keeps up, and at top speed smaller
// blocks cost CPU (bench/capture with trafgen's small packets into a
// 10 MiB ring: 128 KiB blocks took about 1.5 times the CPU per packet
// of 1 MiB ones, 512 KiB blocks as much as 1 MiB ones). A ring of
// 16 MiB or more keeps 1 MiB blocks (BlockSize).
const (
	// ringBlocks is the number of blocks a ring is cut into at least,
	// when its size allows blocks of at least MinBlockSize that hold a
	// packet of the full snaplen; a larger ring has more, of BlockSize.
	ringBlocks = 16
	// stallTarget is what blocks x timeout aims at: a ring of many
	// blocks rides out this long a stall at low rates (tcpdump's 8
	// blocks of a second ride out 7 to 8 s).
	stallTarget = 8 * time.Second
)

// Bounds of the block timeout a ring is given when Config.BlockTimeout
// is 0.
const (
	MinBlockTimeout = 10 * time.Millisecond
	MaxBlockTimeout = 250 * time.Millisecond
)

// ringGeometry picks a block size and a block count for a ring of about
// size bytes: blocks of size/ringBlocks, rounded down to a power of two,
// at most BlockSize and at least MinBlockSize; larger if a packet of the
// full snaplen (with its headers) would not fit; and at least 4 blocks,
// so the kernel fills one while user space reads others.
func ringGeometry(size, snaplen int) (blockSize, blocks int) {
	blockSize = BlockSize
	for blockSize > MinBlockSize && size/blockSize < ringBlocks {
		blockSize >>= 1
	}
	for blockSize < snaplen+blkHdrLen+pktHdrLen+64 {
		blockSize <<= 1
	}
	blocks = max(4, size/blockSize)
	return blockSize, blocks
}

// blockTimeout is the block timeout of a ring of that many blocks:
// stallTarget/blocks, whole milliseconds (the kernel's unit), within
// MinBlockTimeout and MaxBlockTimeout.
func blockTimeout(blocks int) time.Duration {
	tmo := (stallTarget / time.Duration(max(1, blocks))).Truncate(time.Millisecond)
	return min(max(tmo, MinBlockTimeout), MaxBlockTimeout)
}
