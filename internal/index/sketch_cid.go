package index

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
)

// Community IDs in the block index. Builder.AddPacket adds, besides the
// terms a BPF program reads, the Community ID (version 1, seed 0: the
// spec's default, which Zeek, Suricata and tshark use unless told
// otherwise) of the flow flow.Extract finds in the packet: exactly the
// key selection's per-packet match hashes (flow.Key.ID), the inner
// 5-tuple of a tunnelled packet. A sketch built so carries flagCID; one
// without it (built before Community IDs were indexed, or of terms added
// one by one) says nothing of them and may hold every ID. A segment's
// summary carries flagCID when every block added to it did.
//
// The ID is a SHA-1 of the flow's canonical 5-tuple, about 150 ns: a
// Builder computes it once per flow while the flow stays in a small
// direct-mapped cache (flowCacheSize entries, keyed by the canonical
// 5-tuple both directions share), across blocks, and adds it to a block
// once. A packet of a flow seen lately costs reading its 5-tuple and one
// cache probe. The common Ethernet frame (IPv4 or IPv6, TCP, UDP or SCTP,
// not fragmented, no tunnel port) has its 5-tuple read from its bytes
// (fastFlowKey); every other frame goes through flow.Extract.
// TestFlowKeyFastPath checks that both give the same key.

// flagCID: the sketch holds the seed-0 Community ID of every packet of
// its block (or segment) that has one.
const flagCID = 2

// CommunityIDTerm is the term of a Community ID as Zeek, Suricata and
// tshark print it ("1:" and the base64 of its SHA-1); ok is false for an
// ID that is not one (the zero CommunityID).
func CommunityIDTerm(c flow.CommunityID) (t Term, ok bool) {
	if c.IsZero() || c[0] != '1' || c[1] != ':' {
		return t, false
	}
	var raw [21]byte
	n, err := base64.StdEncoding.Decode(raw[:], c[2:])
	if err != nil || n != len(t.CID) {
		return t, false
	}
	t.Kind = KindCommunityID
	copy(t.CID[:], raw[:n])
	return t, true
}

// HasCommunityIDs reports whether the sketch holds its packets'
// Community IDs (seed 0). One that does not may hold every ID. s must
// have passed Check.
func (s Sketch) HasCommunityIDs() bool { return s[2]&flagCID != 0 }

// flowIDs is a Builder's part for Community IDs.
type flowIDs struct {
	// on: AddPacket gave this block's packets' IDs (flagCID).
	on bool
	// hashes are the Hashes of the Community ID terms added to the block
	// (apart from the other terms', which tests compare with
	// Terms.Packet's).
	hashes []uint64
	cache  *flowCache
	pkt    flow.Packet
	key    flowKey // the current packet's (addFlowID)
}

// flowKey is a canonical 5-tuple as the cache keys it, exactly: the
// endpoints in the order flow.Key.Canonical gives them (an IPv4 pair in
// a, an IPv6 pair in a..d), and in e the IP version, whether there are
// ports, the protocol and the ports. The Community ID is a function of
// it.
type flowKey struct{ a, b, c, d, e uint64 }

// equal and set compare and copy keys word by word (see fastFlowKeyTo).
func (k *flowKey) equal(o *flowKey) bool {
	return k.a == o.a && k.b == o.b && k.c == o.c && k.d == o.d && k.e == o.e
}

func (k *flowKey) set(o *flowKey) { k.a, k.b, k.c, k.d, k.e = o.a, o.b, o.c, o.d, o.e }

func (k *flowKey) slot() uint64 {
	return ((k.a * 0x9e3779b97f4a7c15) ^ (k.b * 0xbf58476d1ce4e5b9) ^ (k.c * 0x94d049bb133111eb) ^ k.d ^ (k.e * 0xd6e8feb86659fd93)) >> (64 - flowCacheBits)
}

// flowCacheBits sizes the cache: 1024 entries of 56 bytes.
const (
	flowCacheBits = 10
	flowCacheSize = 1 << flowCacheBits
)

type flowEntry struct {
	key  flowKey
	hash uint64 // Hash of the flow's Community ID term
	gen  uint32 // the block that has it already, if the cache's gen
	// terms is the block that has the flow's other terms already (its
	// addresses, ports and protocol, which are functions of the key on
	// the fast paths: see Builder.AddPacket), if the cache's gen.
	terms uint32
}

type flowCache struct {
	e   [flowCacheSize]flowEntry
	gen uint32 // the current block; entries of generation 0 are in none
}

// reset starts a new block: no entry is in it.
func (f *flowIDs) reset() {
	f.on = false
	f.hashes = f.hashes[:0]
	if c := f.cache; c != nil {
		c.gen++
		if c.gen == 0 {
			for i := range c.e {
				c.e[i].gen, c.e[i].terms = 0, 0
			}
			c.gen = 1
		}
	}
}

// addFlowID adds the seed-0 Community ID of the packet's flow, if it has
// one, unless the block has it already. It returns the flow's cache
// entry when fastFlowKey read its key (nil otherwise), for AddPacket's
// note of the flow's other terms.
func (b *Builder) addFlowID(linkType uint32, data []byte) *flowEntry {
	f := &b.flows
	f.on = true
	if f.cache == nil {
		f.cache = &flowCache{gen: 1}
	}
	k := &f.key
	fast := fastFlowKeyTo(linkType, data, k)
	var p *flow.Packet
	if !fast {
		p = &f.pkt
		if !flow.Extract(linkType, data, p) {
			return nil // no IP packet: no ID (the per-packet match takes none)
		}
		var ok bool
		if *k, ok = keyOf(p.Key); !ok {
			return nil
		}
	}
	c := f.cache
	e := &c.e[k.slot()]
	if e.key.equal(k) && e.gen != 0 {
		if e.gen == c.gen {
			return fastEntry(e, fast) // in the block already
		}
	} else {
		var sum [20]byte
		if p == nil {
			sum = fastSum(*k)
		} else {
			var ok bool
			if sum, ok = p.Key.Sum(0); !ok {
				return nil
			}
		}
		e.key.set(k)
		e.hash, e.terms = hashCID(sum), 0
	}
	e.gen = c.gen
	if b.est == nil {
		b.est = make([]uint64, estWords)
	}
	b.est[e.hash>>52] |= 1 << (e.hash & 63)
	f.hashes = append(f.hashes, e.hash)
	return fastEntry(e, fast)
}

func fastEntry(e *flowEntry, fast bool) *flowEntry {
	if fast {
		return e
	}
	return nil
}

// hashCID is Hash of the Community ID term of a SHA-1 sum.
func hashCID(sum [20]byte) uint64 {
	return hash2(uint64(KindCommunityID)<<60^binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16]))
}

// keyOf is the cache's key of a flow key: its canonical form, exactly.
func keyOf(k flow.Key) (flowKey, bool) {
	if !k.Src.IsValid() || !k.Dst.IsValid() || k.Src.Is4() != k.Dst.Is4() {
		return flowKey{}, false
	}
	c, _ := k.Canonical()
	var e uint64
	if c.HasPorts {
		e = 1<<48 | uint64(c.SrcPort)<<16 | uint64(c.DstPort)
	}
	e |= uint64(c.Proto) << 32
	if c.Src.Is4() {
		s, d := c.Src.As4(), c.Dst.As4()
		return flowKey{a: uint64(binary.BigEndian.Uint32(s[:]))<<32 | uint64(binary.BigEndian.Uint32(d[:])), e: 4<<56 | e}, true
	}
	s, d := c.Src.As16(), c.Dst.As16()
	be := binary.BigEndian
	return flowKey{be.Uint64(s[:8]), be.Uint64(s[8:]), be.Uint64(d[:8]), be.Uint64(d[8:]), 6<<56 | e}, true
}

// flowOf is the canonical flow key a cache key was made of.
func flowOf(k flowKey) flow.Key {
	f := flow.Key{Proto: uint8(k.e >> 32), HasPorts: k.e>>48&1 != 0, SrcPort: uint16(k.e >> 16), DstPort: uint16(k.e)}
	if k.e>>56 == 4 {
		var s, d [4]byte
		binary.BigEndian.PutUint32(s[:], uint32(k.a>>32))
		binary.BigEndian.PutUint32(d[:], uint32(k.a))
		f.Src, f.Dst = netip.AddrFrom4(s), netip.AddrFrom4(d)
		return f
	}
	var s, d [16]byte
	binary.BigEndian.PutUint64(s[:8], k.a)
	binary.BigEndian.PutUint64(s[8:], k.b)
	binary.BigEndian.PutUint64(d[:8], k.c)
	binary.BigEndian.PutUint64(d[8:], k.d)
	f.Src, f.Dst = netip.AddrFrom16(s), netip.AddrFrom16(d)
	return f
}

// fastSum is the seed-0 Community ID digest of a key fastFlowKey made:
// flow.Key.Sum's (the spec's: seed, the ordered addresses, protocol, a
// pad byte, the ports), which TestFlowKeyFastPath checks it is, without
// building the flow.Key (a TCP, UDP or SCTP key is in the spec's order
// already).
func fastSum(k flowKey) [20]byte {
	var buf [2 + 16 + 16 + 1 + 1 + 2 + 2]byte
	be := binary.BigEndian
	n := 2
	if k.e>>56 == 4 {
		be.PutUint64(buf[n:], k.a)
		n += 8
	} else {
		be.PutUint64(buf[n:], k.a)
		be.PutUint64(buf[n+8:], k.b)
		be.PutUint64(buf[n+16:], k.c)
		be.PutUint64(buf[n+24:], k.d)
		n += 32
	}
	buf[n] = uint8(k.e >> 32)
	be.PutUint32(buf[n+2:], uint32(k.e))
	return sha1.Sum(buf[:n+6])
}

// fastFlowKey reads the canonical 5-tuple of an Ethernet frame that
// flow.Extract would key by its first IP header's addresses and TCP, UDP
// or SCTP ports, following nothing: the type field at 12 is IPv4 or
// IPv6; the header is whole, of version 4 or 6, not a fragment, without
// IPv6 extension headers, its length fields as Extract accepts them; the
// transport header long enough for Extract's ports; and no port Extract
// follows a tunnel behind (VXLAN, GENEVE, Teredo). It reports false for
// every other frame.
func fastFlowKey(linkType uint32, d []byte) (flowKey, bool) {
	var k flowKey
	ok := fastFlowKeyTo(linkType, d, &k)
	return k, ok
}

// fastFlowKeyTo is fastFlowKey writing the key into *k, word by word:
// the capture path's form. (A 40-byte key returned by value is copied
// through the stack in 16-byte moves that read 8-byte stores back before
// they land, a store-forwarding stall that cost addFlowID half its time.)
func fastFlowKeyTo(linkType uint32, d []byte, k *flowKey) bool {
	if linkType != linkEthernet || len(d) < 14+20 {
		return false
	}
	be := binary.BigEndian
	ip := d[14:]
	switch be.Uint16(d[12:]) {
	case etIPv4:
		hl := int(ip[0]&0x0f) * 4
		if ip[0]>>4 != 4 || hl < 20 || hl > len(ip) || be.Uint16(ip[6:])&0x3fff != 0 {
			return false
		}
		end := len(ip)
		if tl := int(be.Uint16(ip[2:])); tl >= hl && tl < end {
			end = tl
		} else if tl < hl {
			return false // tl 0 (TSO) included: Extract's to judge
		}
		proto := ip[9]
		ports, ok := fastPorts(proto, ip[hl:end])
		if !ok {
			return false
		}
		src, dst := be.Uint32(ip[12:]), be.Uint32(ip[16:])
		sp, dp := uint16(ports>>16), uint16(ports)
		if src > dst || src == dst && sp > dp {
			src, dst, ports = dst, src, ports<<16|ports>>16
		}
		k.a, k.b, k.c, k.d = uint64(src)<<32|uint64(dst), 0, 0, 0
		k.e = 4<<56 | 1<<48 | uint64(proto)<<32 | uint64(ports)
		return true
	case etIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		end := len(ip)
		if pl := int(be.Uint16(ip[4:])); pl > 0 && 40+pl < end {
			end = 40 + pl
		}
		proto := ip[6]
		ports, ok := fastPorts(proto, ip[40:end])
		if !ok {
			return false
		}
		s1, s2, d1, d2 := be.Uint64(ip[8:]), be.Uint64(ip[16:]), be.Uint64(ip[24:]), be.Uint64(ip[32:])
		sp, dp := uint16(ports>>16), uint16(ports)
		if s1 > d1 || s1 == d1 && (s2 > d2 || s2 == d2 && sp > dp) {
			s1, s2, d1, d2, ports = d1, d2, s1, s2, ports<<16|ports>>16
		}
		k.a, k.b, k.c, k.d = s1, s2, d1, d2
		k.e = 6<<56 | 1<<48 | uint64(proto)<<32 | uint64(ports)
		return true
	}
	return false
}

// fastPorts reads the source and destination port (in the high and low
// 16 bits) of a TCP, UDP or SCTP header l4 that flow.Extract keys by its
// ports and follows no further.
func fastPorts(proto uint8, l4 []byte) (uint32, bool) {
	var need int
	switch proto {
	case 6:
		need = 4
	case 17:
		need = 8
	case 132:
		need = 12
	default:
		return 0, false
	}
	if len(l4) < need {
		return 0, false
	}
	ports := binary.BigEndian.Uint32(l4)
	if proto == 17 {
		for _, p := range [2]uint16{uint16(ports >> 16), uint16(ports)} {
			if p == 4789 || p == 6081 || p == 3544 {
				return 0, false
			}
		}
	}
	return ports, true
}
