// Package rewrite edits frames on their way out of a replay, as
// tcprewrite does for tcpreplay: Ethernet addresses, IP addresses mapped
// from one prefix to another (pseudo-NAT), TCP and UDP ports, and the
// checksums that depend on them. It also cuts frames larger than the
// output interface's MTU, as the kernel's TSO and GSO would have on the
// wire (Segmenter), or truncates them (Truncate).
//
// A Rewriter works in place on the caller's frame and allocates nothing
// per frame: the replay's sender calls it between reading a frame and
// waiting for its deadline. Frames are read with Parse, which never reads
// past the frame and understands Ethernet with up to two VLAN tags, raw
// IPv4 and IPv6 links, IPv6 extension headers and IPv4 and IPv6
// fragments.
//
// Checksums: after any change to a frame, the IPv4 header checksum is
// computed afresh, and so is the transport checksum (TCP, UDP, ICMP,
// ICMPv6, with the pseudo-header where there is one) when the frame holds
// the whole transport segment. Where it does not (a frame cut by the
// capture's snaplen, the first fragment of a datagram) the transport
// checksum is updated incrementally for the bytes that changed (RFC 1624),
// which keeps a checksum that was right right. An IPv4 UDP checksum of 0
// ("none") stays 0 after a rewrite; FixChecksums computes one.
package rewrite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Config says what to change in every frame. The zero value changes
// nothing.
type Config struct {
	SrcMAC, DstMAC net.HardwareAddr // Ethernet source and destination; nil keeps them
	SrcIP, DstIP   []IPMap          // source and destination address maps; the first match applies
	Ports          PortMap          // TCP and UDP ports, source and destination alike
	FixChecksums   bool             // recompute IPv4, TCP, UDP, ICMP and ICMPv6 checksums of every frame
}

// Active reports whether the config changes anything.
func (c Config) Active() bool {
	return c.SrcMAC != nil || c.DstMAC != nil || len(c.SrcIP) > 0 || len(c.DstIP) > 0 || len(c.Ports) > 0 || c.FixChecksums
}

// IPMap maps the addresses of From into To, keeping the address's bits
// past To's prefix length (tcprewrite's pseudo-NAT): with
// 10.0.0.0/8 -> 192.168.0.0/16, 10.1.2.3 becomes 192.168.2.3.
type IPMap struct {
	From, To netip.Prefix
}

// PortMap maps TCP and UDP port numbers.
type PortMap map[uint16]uint16

// ParseIPMaps reads "FROM:TO[,FROM:TO...]", each a CIDR prefix (IPv6
// prefixes are split at their last colon before the second prefix, so
// "2001:db8::/32:fd00::/16" works).
func ParseIPMaps(s string) ([]IPMap, error) {
	var maps []IPMap
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		// The separator is the colon after the first prefix's length.
		slash := strings.IndexByte(item, '/')
		if slash < 0 {
			return nil, fmt.Errorf("address map %q: want FROM/LEN:TO/LEN", item)
		}
		colon := strings.IndexByte(item[slash:], ':')
		if colon < 0 {
			return nil, fmt.Errorf("address map %q: want FROM/LEN:TO/LEN", item)
		}
		from, err := netip.ParsePrefix(item[:slash+colon])
		if err != nil {
			return nil, fmt.Errorf("address map %q: %w", item, err)
		}
		to, err := netip.ParsePrefix(item[slash+colon+1:])
		if err != nil {
			return nil, fmt.Errorf("address map %q: %w", item, err)
		}
		if from.Addr().Is4() != to.Addr().Is4() || from.Addr().Is4In6() || to.Addr().Is4In6() {
			return nil, fmt.Errorf("address map %q: both sides must be IPv4 or both IPv6", item)
		}
		maps = append(maps, IPMap{From: from.Masked(), To: to.Masked()})
	}
	return maps, nil
}

// ParsePortMap reads "FROM:TO[,FROM:TO...]", ports 1 to 65535.
func ParsePortMap(s string) (PortMap, error) {
	m := PortMap{}
	for _, item := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok {
			return nil, fmt.Errorf("port map %q: want FROM:TO", item)
		}
		from, err1 := parsePort(a)
		to, err2 := parsePort(b)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("port map %q: %w", item, err)
		}
		if _, dup := m[from]; dup {
			return nil, fmt.Errorf("port map %q: port %d mapped twice", item, from)
		}
		m[from] = to
	}
	return m, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(n), nil
}

// ParseMAC reads an Ethernet address (6 bytes).
func ParseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("invalid Ethernet address %q", s)
	}
	return m, nil
}

// Stats counts what a Rewriter did.
type Stats struct {
	Changed int64 // frames changed
	Patched int64 // frames whose transport checksum was updated for the change only: the frame lacks the rest of the segment (cut short by the snaplen, or a first fragment)
}

// Rewriter applies a Config to frames.
type Rewriter struct {
	cfg   Config
	stats Stats
}

// New returns a Rewriter for cfg.
func New(cfg Config) *Rewriter { return &Rewriter{cfg: cfg} }

// Stats returns the counts so far.
func (r *Rewriter) Stats() Stats { return r.stats }

// Apply rewrites frame f of link type lt in place and reports whether it
// changed.
func (r *Rewriter) Apply(lt uint32, f []byte) bool {
	changed := false
	if lt == LinkEthernet && len(f) >= 14 {
		if r.cfg.DstMAC != nil {
			copy(f[0:6], r.cfg.DstMAC)
			changed = true
		}
		if r.cfg.SrcMAC != nil {
			copy(f[6:12], r.cfg.SrcMAC)
			changed = true
		}
	}
	ly := Parse(lt, f)
	if ly.L3 < 0 {
		if changed {
			r.stats.Changed++
		}
		return changed
	}
	// The old values, for incremental checksum updates.
	var oldSrc, oldDst [16]byte
	var oldPorts [4]byte
	src, dst := ly.Addrs(f)
	copy(oldSrc[:], src)
	copy(oldDst[:], dst)
	l3changed := mapAddr(r.cfg.SrcIP, src)
	l3changed = mapAddr(r.cfg.DstIP, dst) || l3changed
	l4changed := false
	if sp, dp, ok := ly.Ports(f); ok && len(r.cfg.Ports) > 0 {
		copy(oldPorts[:], f[ly.L4:ly.L4+4])
		if to, ok := r.cfg.Ports[sp]; ok {
			binary.BigEndian.PutUint16(f[ly.L4:], to)
			l4changed = true
		}
		if to, ok := r.cfg.Ports[dp]; ok {
			binary.BigEndian.PutUint16(f[ly.L4+2:], to)
			l4changed = true
		}
	}
	if l3changed || l4changed || r.cfg.FixChecksums {
		if ly.Version == 4 {
			ipv4HeaderChecksum(f, ly.L3)
		}
		if !transportChecksum(f, ly) {
			r.patchChecksum(f, ly, oldSrc[:len(src)], oldDst[:len(dst)], src, dst, oldPorts[:], l3changed, l4changed)
		}
	}
	if changed = changed || l3changed || l4changed || r.cfg.FixChecksums; changed {
		r.stats.Changed++
	}
	return changed
}

// patchChecksum updates the transport checksum of a segment the frame
// does not hold whole, for the addresses and ports that changed.
func (r *Rewriter) patchChecksum(f []byte, ly Layers, oldSrc, oldDst, src, dst, oldPorts []byte, l3changed, l4changed bool) {
	off := csumOffset(ly.Proto)
	if ly.L4 == 0 || off < 0 {
		return // no transport checksum in this frame
	}
	r.stats.Patched++
	c := binary.BigEndian.Uint16(f[ly.L4+off:])
	if ly.Proto == protoUDP && c == 0 && ly.Version == 4 {
		return // no checksum
	}
	if l3changed && ly.Proto != protoICMP {
		c = adjust(c, oldSrc, src)
		c = adjust(c, oldDst, dst)
	}
	if l4changed {
		c = adjust(c, oldPorts, f[ly.L4:ly.L4+4])
	}
	if c == 0 && ly.Proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(f[ly.L4+off:], c)
}

// mapAddr rewrites addr by the first map whose From holds it.
func mapAddr(maps []IPMap, addr []byte) bool {
	if len(maps) == 0 {
		return false
	}
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return false
	}
	for _, m := range maps {
		if !m.From.Contains(a) {
			continue
		}
		var to [16]byte
		if t := m.To.Addr(); t.Is4() {
			t4 := t.As4()
			copy(to[:], t4[:])
		} else {
			to = t.As16()
		}
		bits := m.To.Bits()
		for i := range addr {
			keep := 0 // bits of byte i that come from To
			switch {
			case bits >= 8*(i+1):
				keep = 8
			case bits > 8*i:
				keep = bits - 8*i
			}
			mask := byte(0xff << (8 - keep))
			addr[i] = to[i]&mask | addr[i]&^mask
		}
		return true
	}
	return false
}
