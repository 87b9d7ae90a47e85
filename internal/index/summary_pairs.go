package index

import (
	"encoding/binary"
	"net/netip"
)

// Address-port pairs in a segment's summary. A segment of a day's
// traffic holds most of a network's addresses and many of its ports, so
// "host A and port P" finds both terms in most segments, though they meet
// in one packet in few of them. A Summary with pairs (SetPairs) also
// holds, for every packet, each pair of one of its addresses and one of
// its ports, as Terms.Packet reads them (two addresses and two ports make
// four), and MatchPaired checks, in every and of a plan, that each of its
// addresses is paired with one alternative of each port it requires: a
// packet the and selects carries both, so their pair. A packet with more
// than maxPairs pairs (tunnels within tunnels) leaves the summary without
// pairs (Paired reports false), and it is matched by its terms alone.

// maxPairs bounds the address-port pairs one packet adds.
const maxPairs = 64

// pairSalt sets a pair's hash apart from its terms'. Part of the format.
const pairSalt = 0x7061697273000000

// PairHash is the hash of the pair of an address term and a port term,
// from their Hashes. Part of the on-disk format of summaries with pairs.
func PairHash(addr, port uint64) uint64 { return hash2(addr^pairSalt, port) }

// SetPairs has the summary take packets' pairs (AddPacketPairs) from now
// on; Reset leaves it as set.
func (s *Summary) SetPairs(on bool) { s.pairsOn = on }

// Paired reports whether the summary holds the pairs of every packet
// added: SetPairs was on, and no packet had too many.
func (s *Summary) Paired() bool { return s.pairsOn && !s.pairsLost }

// AddPacketPairs adds the address-port pairs of one stored packet (its
// link type and captured bytes). The common Ethernet frame (IPv4 or IPv6
// with nothing Terms.Packet would read further, as Builder.AddPacket
// decides) is read straight from its bytes; every other goes through
// Terms.Packet. TestSummaryPairsFastPath checks that both give the same
// pairs.
func (s *Summary) AddPacketPairs(linkType uint32, data []byte) {
	if !s.pairsOn {
		return
	}
	if linkType == linkEthernet && s.fastPairs(data) {
		return
	}
	s.terms.Packet(linkType, data)
	s.addPairs(s.terms.List)
}

// addPairs adds the pairs of one packet's terms.
func (s *Summary) addPairs(list []Term) {
	if pairsOf(list, s.addPair) {
		s.pairsLost = true
	}
}

// pairsOf calls add with the hash of each address-port pair of one
// packet's terms, unless there are more than maxPairs: then it adds
// none and reports true (the pairs are lost).
func pairsOf(list []Term, add func(uint64)) (lost bool) {
	na, np := 0, 0
	for i := range list {
		switch list[i].Kind {
		case KindAddr:
			na++
		case KindPort:
			np++
		}
	}
	if na == 0 || np == 0 {
		return false
	}
	if na*np > maxPairs {
		return true
	}
	for i := range list {
		if list[i].Kind != KindAddr {
			continue
		}
		ah := hashAddr(list[i].Addr)
		for j := range list {
			if list[j].Kind == KindPort {
				add(PairHash(ah, hashPort(list[j].Proto, list[j].Port)))
			}
		}
	}
	return false
}

func (s *Summary) addPair(h uint64) {
	if s.record != nil {
		*s.record = append(*s.record, h)
	}
	if s.acc == nil {
		s.acc = make([]uint64, summaryWords)
	}
	s.acc[word(h, summaryWords)] |= mask(h)
}

// fastPairs adds the pairs of an Ethernet frame whose terms
// Builder.fastPacket reads from its bytes (fastEther's frames); it
// reports false, adding nothing, for every other frame.
func (s *Summary) fastPairs(d []byte) bool {
	switch fastEther(d) {
	case etIPv4:
		return s.fastPairs4(d, 14)
	case etIPv6:
		return s.fastPairs6(d, 14)
	}
	return false
}

func (s *Summary) fastPairs4(d []byte, o int) bool {
	if o+20 > len(d) {
		return false
	}
	proto := d[o+9]
	x := o + int(d[o]&0x0f)*4
	if !(proto == 6 || proto == 17 || proto == 132) || binary.BigEndian.Uint16(d[o+6:])&0x1fff != 0 {
		return true // no ports: no pairs
	}
	if x+4 > len(d) || x < o+2 {
		return false
	}
	if proto == 17 && binary.BigEndian.Uint16(d[x+2:]) == geneve {
		return false
	}
	src, dst := binary.BigEndian.Uint32(d[o+12:]), binary.BigEndian.Uint32(d[o+16:])
	ports := binary.BigEndian.Uint32(d[x:])
	// A packet's four pairs are its reply's: the key is the same both
	// ways (the lower address first, its ports with it).
	key := pairKey{a: uint64(src)<<32 | uint64(dst), b: 4<<40 | uint64(proto)<<32 | uint64(ports)}
	if dst < src {
		key = pairKey{a: uint64(dst)<<32 | uint64(src), b: 4<<40 | uint64(proto)<<32 | uint64(ports<<16|ports>>16)}
	}
	if s.seen(key) {
		return true
	}
	sa, da := hashAddr(netip.AddrFrom4([4]byte(d[o+12:o+16]))), hashAddr(netip.AddrFrom4([4]byte(d[o+16:o+20])))
	sp, dp := hashPort(proto, uint16(ports>>16)), hashPort(proto, uint16(ports))
	s.add4(sa, da, sp, dp)
	return true
}

// pairKey is a packet's addresses, protocol and ports as the pairs cache
// keys them, exactly: IPv4 in two words, IPv6 in five; the IP version in
// the last. A packet and its reply have one key.
type pairKey struct{ a, b, c, d, e uint64 }

// pairCacheBits sizes the cache of the last packets' pairs: a packet of
// a flow seen lately adds nothing new (its four pairs are there), and
// is neither hashed nor added.
const pairCacheBits = 12

// seen reports whether the cache holds k, entering it if not.
func (s *Summary) seen(k pairKey) bool {
	if s.cache == nil {
		s.cache = make([]pairKey, 1<<pairCacheBits)
	}
	i := ((k.a * 0x9e3779b97f4a7c15) ^ (k.b * 0xbf58476d1ce4e5b9) ^ (k.c * 0x94d049bb133111eb) ^ k.d ^ k.e*31) >> (64 - pairCacheBits)
	if s.cache[i] == k && k != (pairKey{}) {
		return true
	}
	s.cache[i] = k
	return false
}

func (s *Summary) fastPairs6(d []byte, o int) bool {
	nh, ok := fastIPv6Proto(d, o)
	if !ok {
		return false
	}
	be := binary.BigEndian
	s1, s2, d1, d2 := be.Uint64(d[o+8:]), be.Uint64(d[o+16:]), be.Uint64(d[o+24:]), be.Uint64(d[o+32:])
	ports := be.Uint32(d[o+40:])
	key := pairKey{s1, s2, d1, d2, 6<<40 | uint64(nh)<<32 | uint64(ports)}
	if d1 < s1 || d1 == s1 && d2 < s2 {
		key = pairKey{d1, d2, s1, s2, 6<<40 | uint64(nh)<<32 | uint64(ports<<16|ports>>16)}
	}
	if s.seen(key) {
		return true
	}
	sa, da := hashAddr(netip.AddrFrom16([16]byte(d[o+8:o+24]))), hashAddr(netip.AddrFrom16([16]byte(d[o+24:o+40])))
	sp, dp := hashPort(nh, uint16(ports>>16)), hashPort(nh, uint16(ports))
	s.add4(sa, da, sp, dp)
	return true
}

// add4 adds the four pairs of two addresses and two ports.
func (s *Summary) add4(sa, da, sp, dp uint64) {
	s.addPair(PairHash(sa, sp))
	s.addPair(PairHash(sa, dp))
	s.addPair(PairHash(da, sp))
	s.addPair(PairHash(da, dp))
}

// MatchPaired is Match for a summary with pairs (Paired): in every and
// of e, each address term must be paired in s with one alternative of
// each port requirement (a port term, or an or of port terms) of the
// same and.
func (s Sketch) MatchPaired(e Expr) bool {
	if e.Op == OpNone {
		return false
	}
	if s.Has(Any) {
		return true
	}
	return s.evalPaired(e)
}

func (s Sketch) evalPaired(e Expr) bool {
	switch e.Op {
	case OpAnd:
		for _, a := range e.Args {
			if !s.evalPaired(a) {
				return false
			}
		}
		return s.pairsPresent(e.Args)
	case OpOr:
		for _, a := range e.Args {
			if s.evalPaired(a) {
				return true
			}
		}
		return false
	}
	return e.eval(s)
}

// pairsPresent checks the pairs an and's arguments require.
func (s Sketch) pairsPresent(args []Expr) bool {
	for _, a := range args {
		if a.Op != OpTerm || a.Term.Kind != KindAddr {
			continue
		}
		ah := hashAddr(a.Term.Addr)
		for _, p := range args {
			alts := []Expr{p}
			if p.Op == OpOr {
				alts = p.Args
			}
			ports, found := len(alts) > 0, false
			for _, q := range alts {
				if q.Op != OpTerm || q.Term.Kind != KindPort {
					ports = false
					break
				}
				found = found || s.MayHold(PairHash(ah, hashPort(q.Term.Proto, q.Term.Port)))
			}
			if ports && !found {
				return false
			}
		}
	}
	return true
}
