package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// testPacket is one record of a capture file.
type testPacket struct {
	linkType uint32
	data     []byte
	wireLen  int
}

// readCapture reads a pcap or pcapng file the way libpcap 1.10.3 hands
// packets to pcap_offline_filter (a minimal reader for the tests).
func readCapture(path string) ([]testPacket, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, errors.New("short file")
	}
	if binary.LittleEndian.Uint32(b) == 0x0A0D0D0A {
		return readPcapng(b)
	}
	return readPcap(b)
}

func adjustSnaplen(s uint32) uint32 {
	if s == 0 || s > 0x7fffffff {
		return DefaultSnaplen
	}
	return s
}

func readPcap(b []byte) ([]testPacket, error) {
	if len(b) < 24 {
		return nil, errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, errors.New("not a pcap file")
	}
	major, minor := bo.Uint16(b[4:]), bo.Uint16(b[6:])
	snaplen := adjustSnaplen(bo.Uint32(b[16:]))
	lt := bo.Uint32(b[20:]) & 0x03ffffff
	var pkts []testPacket
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			return nil, errors.New("truncated record header")
		}
		caplen, wire := bo.Uint32(b[off+8:]), bo.Uint32(b[off+12:])
		if major < 2 || major == 2 && minor < 3 || major == 2 && minor == 3 && caplen > wire {
			caplen, wire = wire, caplen
		}
		off += 16
		if off+int(caplen) > len(b) {
			return nil, errors.New("truncated record")
		}
		data := b[off : off+int(caplen)]
		off += int(caplen)
		if caplen > snaplen {
			data = data[:snaplen]
		}
		pkts = append(pkts, testPacket{linkType: lt, data: data, wireLen: int(wire)})
	}
	return pkts, nil
}

func readPcapng(b []byte) ([]testPacket, error) {
	var pkts []testPacket
	var bo binary.ByteOrder = binary.LittleEndian
	type iface struct{ lt, snaplen uint32 }
	var ifaces []iface
	for off := 0; off < len(b); {
		if off+12 > len(b) {
			return nil, errors.New("truncated block")
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == 0x0A0D0D0A {
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1A2B3C4D:
				bo = binary.LittleEndian
			case 0x4D3C2B1A:
				bo = binary.BigEndian
			default:
				return nil, errors.New("bad byte-order magic")
			}
			ifaces = nil
		} else {
			typ = bo.Uint32(b[off:])
		}
		blen := int(bo.Uint32(b[off+4:]))
		if blen < 12 || off+blen > len(b) {
			return nil, fmt.Errorf("bad block length %d", blen)
		}
		body := b[off+8 : off+blen-4]
		switch typ {
		case 1: // IDB
			if len(body) < 8 {
				return nil, errors.New("short IDB")
			}
			ifaces = append(ifaces, iface{uint32(bo.Uint16(body)), adjustSnaplen(bo.Uint32(body[4:]))})
		case 6, 2: // EPB, obsolete PB
			if len(body) < 20 {
				return nil, errors.New("short packet block")
			}
			var id uint32
			if typ == 6 {
				id = bo.Uint32(body)
			} else {
				id = uint32(bo.Uint16(body))
			}
			caplen, wire := bo.Uint32(body[12:]), bo.Uint32(body[16:])
			if int(id) >= len(ifaces) || 20+int(caplen) > len(body) {
				return nil, errors.New("bad packet block")
			}
			pkts = append(pkts, testPacket{ifaces[id].lt, body[20 : 20+caplen], int(wire)})
		case 3: // SPB
			if len(ifaces) == 0 || len(body) < 4 {
				return nil, errors.New("bad SPB")
			}
			wire := bo.Uint32(body)
			caplen := wire
			if caplen > ifaces[0].snaplen {
				caplen = ifaces[0].snaplen
			}
			if 4+int(caplen) > len(body) {
				return nil, errors.New("truncated SPB")
			}
			pkts = append(pkts, testPacket{ifaces[0].lt, body[4 : 4+caplen], int(wire)})
		}
		off += blen
	}
	return pkts, nil
}
