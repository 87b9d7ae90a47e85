package flow

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ICMP and ICMPv6 types that the Community ID spec pairs (request and
// reply share an ID); every other type is one-way and keeps its code.
var (
	icmpPair = [256]uint8{8: 0 + 1, 0: 8 + 1, 13: 14 + 1, 14: 13 + 1, 15: 16 + 1, 16: 15 + 1,
		10: 9 + 1, 9: 10 + 1, 17: 18 + 1, 18: 17 + 1}
	icmp6Pair = [256]uint8{128: 129 + 1, 129: 128 + 1, 130: 131 + 1, 131: 130 + 1,
		133: 134 + 1, 134: 133 + 1, 135: 136 + 1, 136: 135 + 1, 139: 140 + 1, 140: 139 + 1,
		144: 145 + 1, 145: 144 + 1}
)

// icmpCounterpart is the type paired with t (ok false: one-way type).
func icmpCounterpart(proto, t uint8) (uint8, bool) {
	var v uint8
	switch proto {
	case ProtoICMP:
		v = icmpPair[t]
	case ProtoICMPv6:
		v = icmp6Pair[t]
	}
	return v - 1, v != 0
}

// CommunityIDLen is the length of a version 1 Community ID: "1:" and 28
// characters of base64.
const CommunityIDLen = 30

// CommunityID is a version 1 Community ID held without allocation; its
// zero value means none (a packet that is not IP).
type CommunityID [CommunityIDLen]byte

// String is the ID as Zeek, Suricata and tshark print it, "" for none.
func (c CommunityID) String() string {
	if c[0] == 0 {
		return ""
	}
	return string(c[:])
}

// IsZero reports whether c is no ID.
func (c CommunityID) IsZero() bool { return c[0] == 0 }

// ErrCommunityID is ParseCommunityID's error for text that is not a
// version 1 Community ID.
var ErrCommunityID = errors.New("not a version 1 community id (1: and 28 characters of base64)")

// ParseCommunityID reads an ID as a user types it.
func ParseCommunityID(s string) (CommunityID, error) {
	var c CommunityID
	s = strings.TrimSpace(s)
	if len(s) != CommunityIDLen || !strings.HasPrefix(s, "1:") {
		return c, fmt.Errorf("%q: %w", s, ErrCommunityID)
	}
	if raw, err := base64.StdEncoding.DecodeString(s[2:]); err != nil || len(raw) != sha1.Size {
		return c, fmt.Errorf("%q: %w", s, ErrCommunityID)
	}
	copy(c[:], s)
	return c, nil
}

// ID computes k's Community ID with the given seed (0 is the spec's and
// every tool's default). k may be either direction of the flow and need
// not be canonical: the spec's ordering is applied here. A key without a
// valid address pair has no ID.
func (k Key) ID(seed uint16) CommunityID {
	var c CommunityID
	sum, ok := k.Sum(seed)
	if !ok {
		return c
	}
	c[0], c[1] = '1', ':'
	base64.StdEncoding.Encode(c[2:], sum[:])
	return c
}

// Sum is the SHA-1 digest k's Community ID is the base64 of (ok false:
// k has no ID, as for ID). The block index keeps it raw.
func (k Key) Sum(seed uint16) (sum [sha1.Size]byte, ok bool) {
	if !k.Src.IsValid() || !k.Dst.IsValid() || k.Src.Is4() != k.Dst.Is4() {
		return sum, false
	}
	o, _ := k.ordered()
	var buf [2 + 16 + 16 + 1 + 1 + 2 + 2]byte
	buf[0], buf[1] = byte(seed>>8), byte(seed)
	n := 2
	n += putAddr(buf[n:], o.Src)
	n += putAddr(buf[n:], o.Dst)
	buf[n] = o.Proto
	buf[n+1] = 0
	n += 2
	if o.HasPorts {
		buf[n], buf[n+1] = byte(o.SrcPort>>8), byte(o.SrcPort)
		buf[n+2], buf[n+3] = byte(o.DstPort>>8), byte(o.DstPort)
		n += 4
	}
	return sha1.Sum(buf[:n]), true
}

func putAddr(dst []byte, a netip.Addr) int {
	if a.Is4() {
		b := a.As4()
		return copy(dst, b[:])
	}
	b := a.As16()
	return copy(dst, b[:])
}

// ordered is k as the Community ID spec hashes it: for ICMP and ICMPv6
// the ports are the type and, for the paired types, the counterpart type
// (else the code); then the lower endpoint first, except for one-way ICMP
// types, which keep their direction.
func (k Key) ordered() (Key, bool) {
	oneWay := false
	if k.HasPorts && (k.Proto == ProtoICMP || k.Proto == ProtoICMPv6) {
		if pair, ok := icmpCounterpart(k.Proto, uint8(k.SrcPort)); ok {
			k.DstPort = uint16(pair)
		} else {
			oneWay = true
		}
	}
	if oneWay || k.lessEnds() {
		return k, false
	}
	return k.Reverse(), true
}

// lessEnds is the spec's tuple order: source address below destination,
// or equal addresses and source port below destination port (with no
// ports, equal addresses count as ordered).
func (k Key) lessEnds() bool {
	c := k.Src.Compare(k.Dst)
	return c < 0 || c == 0 && (!k.HasPorts || k.SrcPort < k.DstPort)
}
