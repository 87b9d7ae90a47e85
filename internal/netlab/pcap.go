//go:build linux

package netlab

import (
	"encoding/binary"
	"fmt"
	"os"
)

// Frame is one record of a pcap file written by tcpdump.
type Frame struct {
	TS      int64 // ns
	OrigLen int
	Data    []byte
}

// ReadPcap reads a classic pcap file (as tcpdump -w writes it, either
// resolution, host byte order). It is deliberately independent of the
// project's own pcap code so that tests compare against tcpdump's bytes.
func ReadPcap(path string) (linkType uint32, frames []Frame, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, err
	}
	if len(b) < 24 {
		return 0, nil, fmt.Errorf("%s: short pcap header", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	magic := binary.LittleEndian.Uint32(b)
	nano := false
	switch magic {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return 0, nil, fmt.Errorf("%s: not a pcap file (magic %#x)", path, magic)
	}
	linkType = bo.Uint32(b[20:]) & 0x03ffffff
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			// tcpdump killed mid-write: keep what is whole.
			break
		}
		sec, frac := int64(bo.Uint32(b[off:])), int64(bo.Uint32(b[off+4:]))
		capLen, origLen := int(bo.Uint32(b[off+8:])), int(bo.Uint32(b[off+12:]))
		off += 16
		if capLen > len(b)-off {
			break
		}
		if !nano {
			frac *= 1000
		}
		frames = append(frames, Frame{TS: sec*1e9 + frac, OrigLen: origLen, Data: b[off : off+capLen]})
		off += capLen
	}
	return linkType, frames, nil
}
