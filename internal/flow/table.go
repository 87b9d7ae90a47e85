package flow

import (
	"errors"
	"time"
)

// End says why a flow ended.
type End uint8

// Why a flow ends.
const (
	EndFlush   End = iota // the table was flushed (end of the packets)
	EndFIN                // FIN both ways, then the linger
	EndRST                // RST, then the linger
	EndIdle               // no packet for the idle timeout
	EndEvicted            // the table was full and this flow the least recently active
)

var endNames = [...]string{"flush", "fin", "rst", "idle", "evicted"}

func (e End) String() string {
	if int(e) < len(endNames) {
		return endNames[e]
	}
	return "end"
}

// Defaults of Config's zero values.
const (
	DefaultSize        = 65536
	DefaultIdleTimeout = 2 * time.Minute
	DefaultLinger      = 2 * time.Second
)

// Config configures a Table. Its zero value (with Emit set) means the
// defaults.
type Config struct {
	// Size is the most flows held at once (0: DefaultSize). A packet of a
	// new flow when the table is full evicts the least recently active
	// flow, which is emitted with EndEvicted and counted.
	Size int
	// IdleTimeout ends a flow that has seen no packet for this long, by
	// the packets' clock (0: DefaultIdleTimeout; negative: never).
	IdleTimeout time.Duration
	// Linger is how long a TCP flow goes on counting packets after its
	// second FIN or an RST (the last ACK, retransmissions) before it ends
	// (0: DefaultLinger; negative: FIN and RST do not end flows).
	Linger time.Duration
	// Seed is the Community ID seed (0, the spec's default, is what Zeek,
	// Suricata and tshark use unless configured).
	Seed uint16
	// Emit receives each flow as it ends. The *Flow is valid only during
	// the call; copy it to keep it.
	Emit func(*Flow)
}

// Flow is a bidirectional flow: Key is the initiator's direction (the
// side of the first packet seen, or the SYN's sender when the first
// packet is a SYN-ACK); index 0 of the counters is initiator to
// responder, 1 the other way.
type Flow struct {
	Key         Key
	CommunityID CommunityID
	FirstNS     int64
	LastNS      int64
	Packets     [2]uint64
	// Bytes are frame lengths on the wire (original lengths), as tshark's
	// conversation statistics count them.
	Bytes    [2]uint64
	TCPFlags uint8 // every TCP flag seen, both ways
	End      End
	// Marked is the caller's: the table never sets it, and carries it
	// until the flow ends (flows, for one, marks the flows of the packets
	// its filter selects).
	Marked bool
	// StoredPackets and StoredBytes are what a recorder stored of the
	// flow, per direction: packets kept (whole or cut to their headers)
	// and their captured bytes. Cut is set once the recorder's cutoff
	// applied to the flow. The table never sets them.
	StoredPackets [2]uint64
	StoredBytes   [2]uint64
	Cut           bool
	// Reported is the caller's too: the recorder sets it once it has
	// given a record of the active flow to its consumer, so that the
	// flow's later records say they are not its first.
	Reported bool
	// KeyNS is the time the flow's records are keyed by (the fleet's
	// first_ns, with its day): FirstNS until the flow is Reported, then
	// fixed at the FirstNS its first record carried. FirstNS goes on
	// moving to an earlier packet that comes late (out of order, merged
	// rings or interfaces), as tshark's conversation start does; a key
	// that moved with it would make a second row of a flow whose record
	// was already shipped. Only the Table sets it; fleet.FlowRowOf keys
	// a Reported flow's records by it.
	KeyNS int64
	// UnstoredBytes are the wire bytes of the packets the recorder did
	// not store at all (a cutoff that keeps nothing), per direction.
	UnstoredBytes [2]uint64
	// Class and Payload are the caller's too: the recorder's cutoff keeps
	// the rule that classified the flow (1-based; 0 before its first
	// packet is classified) and the payload bytes the flow carried.
	Class   int32
	Payload uint64
}

// TotalPackets and TotalBytes are both directions together.
func (f *Flow) TotalPackets() uint64 { return f.Packets[0] + f.Packets[1] }

// TotalBytes is both directions' bytes.
func (f *Flow) TotalBytes() uint64 { return f.Bytes[0] + f.Bytes[1] }

// Stats are a table's counters.
type Stats struct {
	Active  int    // flows held now
	Flows   uint64 // flows started
	Evicted uint64 // flows ended because the table was full
	Packets uint64 // packets counted
}

const none = -1

// mapKey is a canonical Key in a form the map hashes and compares as
// plain bytes (netip.Addr holds a pointer).
type mapKey struct {
	a, b   [16]byte
	pa, pb uint16
	proto  uint8
	flags  uint8 // 1: IPv4, 2: ports
}

func toMapKey(k Key) mapKey {
	m := mapKey{a: k.Src.As16(), b: k.Dst.As16(), pa: k.SrcPort, pb: k.DstPort, proto: k.Proto}
	if k.Src.Is4() {
		m.flags |= 1
	}
	if k.HasPorts {
		m.flags |= 2
	}
	return m
}

type entry struct {
	f       Flow
	key     mapKey // canonical
	initRev bool   // the initiator's direction is the canonical key reversed
	fin     [2]bool
	closing bool
	closeAt int64
	touched int64  // the table's clock when the last packet came
	seq     uint64 // the table's packet count when the last packet came
	prev    int32  // least recently active list
	next    int32
	cprev   int32 // closing list, by closeAt
	cnext   int32
}

type list struct{ head, tail int32 }

// Fragments remembers the flows of first fragments, so that the later
// fragments of the same IP packets, which carry no ports, are keyed by
// them. A Table has one; a reader that keys packets without a Table
// (matching them, indexing them) uses its own. The zero value is ready.
type Fragments struct {
	m    map[fragKey]fragFlow
	ring []fragKey // the keys of m, the oldest at next once full
	next int
}

// Canonical is p's canonical key and whether p goes the reverse way
// (Key.Canonical), except that a later fragment whose first fragment
// came before is given that one's flow. A first fragment is remembered
// (the last maxFrags of them).
func (fr *Fragments) Canonical(p *Packet) (Key, bool) {
	c, rev, _ := fr.canonical(p)
	return c, rev
}

// canonical is Canonical, and whether p was given its first fragment's
// flow.
func (fr *Fragments) canonical(p *Packet) (c Key, rev, joined bool) {
	c, rev = p.Key.Canonical()
	if !p.Fragmented {
		return c, rev, false
	}
	fk := fragKey{src: p.Frag.Src.As16(), dst: p.Frag.Dst.As16(), id: p.Frag.ID, proto: p.Frag.Proto, v4: p.Frag.Src.Is4()}
	if p.Frag.First {
		fr.remember(fk, fragFlow{canon: c, rev: rev})
	} else if ff, ok := fr.m[fk]; ok && p.Fragment {
		return ff.canon, ff.rev, true
	}
	return c, rev, false
}

func (fr *Fragments) remember(k fragKey, f fragFlow) {
	if fr.m == nil {
		fr.m = make(map[fragKey]fragFlow, 64)
	}
	if _, ok := fr.m[k]; !ok {
		if len(fr.ring) < maxFrags {
			fr.ring = append(fr.ring, k)
		} else {
			delete(fr.m, fr.ring[fr.next])
			fr.ring[fr.next] = k
			fr.next = (fr.next + 1) % maxFrags
		}
	}
	fr.m[k] = f
}

// fragKey names the fragments of one IP packet.
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v4       bool
}

// fragFlow is the flow of a first fragment: later fragments of the same
// IP packet go the same way.
type fragFlow struct {
	canon Key
	rev   bool
}

// maxFrags is how many fragmented packets' first fragments a table
// remembers (the oldest is forgotten first).
const maxFrags = 4096

// Table gathers packets into flows. It is not safe for concurrent use.
type Table struct {
	cfg     Config
	idle    int64 // ns; < 0 never
	linger  int64 // ns; < 0 never
	m       map[mapKey]int32
	slab    []entry
	free    []int32
	lru     list
	closing list
	frags   Fragments
	now     int64
	started bool
	stats   Stats
}

// ErrNoEmit is NewTable's error for a Config without Emit.
var ErrNoEmit = errors.New("flow table: Config.Emit is nil")

// NewTable makes a table from cfg.
func NewTable(cfg Config) (*Table, error) {
	if cfg.Emit == nil {
		return nil, ErrNoEmit
	}
	if cfg.Size <= 0 {
		cfg.Size = DefaultSize
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	t := &Table{cfg: cfg, idle: int64(cfg.IdleTimeout), linger: int64(cfg.Linger),
		m: make(map[mapKey]int32, min(cfg.Size, 4096)), lru: list{none, none}, closing: list{none, none}}
	return t, nil
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Active = len(t.m)
	return s
}

// Add counts a packet: its timestamp (ns), what Extract found in it, and
// its length on the wire, and returns the flow it counted it in (valid
// until the table's next call). Flows whose time is up by ts end first.
func (t *Table) Add(ts int64, p *Packet, wireLen int) *Flow {
	f, _ := t.AddDir(ts, p, wireLen)
	return f
}

// AddDir is Add, and the direction the packet went in its flow: 0 from
// the initiator, 1 from the responder.
func (t *Table) AddDir(ts int64, p *Packet, wireLen int) (*Flow, int) {
	t.Advance(ts)
	c, rev, joined := t.frags.canonical(p)
	k := p.Key // the packet's direction, its own ports (ICMP: type and code)
	if joined {
		k = c
		if rev {
			k = c.Reverse()
		}
	}
	mk := toMapKey(c)
	i, ok := t.m[mk]
	if !ok {
		if len(t.m) >= t.cfg.Size {
			t.stats.Evicted++
			t.end(t.lru.head, EndEvicted)
		}
		i = t.alloc()
		e := &t.slab[i]
		initRev := rev
		if p.Key.Proto == ProtoTCP && p.TCPFlags&(SYN|ACK) == SYN|ACK {
			initRev, k = !rev, k.Reverse() // the SYN-ACK's receiver began it
		}
		*e = entry{key: mk, initRev: initRev, prev: none, next: none, cprev: none, cnext: none,
			touched: t.now,
			f:       Flow{Key: k, CommunityID: c.ID(t.cfg.Seed), FirstNS: ts, LastNS: ts, KeyNS: ts}}
		t.m[mk] = i
		t.stats.Flows++
	} else if t.lru.tail != i {
		t.unlink(&t.lru, i, false)
	}
	e := &t.slab[i]
	d := 0
	if rev != e.initRev {
		d = 1
	}
	t.stats.Packets++
	e.seq = t.stats.Packets
	e.f.Packets[d]++
	e.f.Bytes[d] += uint64(wireLen)
	e.f.FirstNS = min(e.f.FirstNS, ts)
	if !e.f.Reported {
		// A reported flow keeps the key its records were given (see KeyNS).
		e.f.KeyNS = e.f.FirstNS
	}
	e.f.LastNS = max(e.f.LastNS, ts)
	e.touched = t.now
	if t.lru.tail != i {
		t.push(&t.lru, i, false)
	}
	if p.Key.Proto != ProtoTCP || !p.Key.HasPorts {
		return &e.f, d
	}
	e.f.TCPFlags |= p.TCPFlags
	if t.linger < 0 || e.closing {
		return &e.f, d
	}
	end := EndFlush
	if p.TCPFlags&RST != 0 {
		end = EndRST
	} else if p.TCPFlags&FIN != 0 {
		e.fin[d] = true
		if e.fin[0] && e.fin[1] {
			end = EndFIN
		}
	}
	if end != EndFlush {
		e.closing, e.closeAt, e.f.End = true, ts+t.linger, end
		t.push(&t.closing, i, true)
	}
	return &e.f, d
}

// Advance moves the table's clock to now (when later than it is) and
// ends the flows whose linger or idle time is up. Add calls it; a
// recorder calls it on its own when no packet comes.
func (t *Table) Advance(now int64) {
	if !t.started || now > t.now {
		t.now, t.started = now, true
	}
	for t.closing.head != none && t.slab[t.closing.head].closeAt < t.now {
		i := t.closing.head
		t.end(i, t.slab[i].f.End)
	}
	if t.idle < 0 {
		return
	}
	for t.lru.head != none && t.now-t.slab[t.lru.head].touched > t.idle {
		t.end(t.lru.head, EndIdle)
	}
}

// Seq is the table's packet count: Changed(Seq()) later visits the
// flows that counted a packet since.
func (t *Table) Seq() uint64 { return t.stats.Packets }

// Changed calls fn for every active flow that counted a packet after the
// table's Seq was since, most recently active first, and returns the Seq
// to pass next time. The *Flow is valid only during the call; fn must not
// call the table.
func (t *Table) Changed(since uint64, fn func(*Flow)) uint64 {
	for i := t.lru.tail; i != none && t.slab[i].seq > since; i = t.slab[i].prev {
		fn(&t.slab[i].f)
	}
	return t.stats.Packets
}

// Flush ends every flow, least recently active first.
func (t *Table) Flush() {
	for t.lru.head != none {
		t.end(t.lru.head, EndFlush)
	}
}

func (t *Table) alloc() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	t.slab = append(t.slab, entry{})
	return int32(len(t.slab) - 1)
}

// end emits flow i with reason why and frees it.
func (t *Table) end(i int32, why End) {
	e := &t.slab[i]
	t.unlink(&t.lru, i, false)
	if e.closing {
		t.unlink(&t.closing, i, true)
	}
	e.f.End = why
	delete(t.m, e.key)
	t.cfg.Emit(&e.f)
	t.free = append(t.free, i)
}

func (t *Table) links(i int32, closing bool) (prev, next *int32) {
	e := &t.slab[i]
	if closing {
		return &e.cprev, &e.cnext
	}
	return &e.prev, &e.next
}

func (t *Table) push(l *list, i int32, closing bool) {
	prev, next := t.links(i, closing)
	*prev, *next = l.tail, none
	if l.tail != none {
		_, tn := t.links(l.tail, closing)
		*tn = i
	} else {
		l.head = i
	}
	l.tail = i
}

func (t *Table) unlink(l *list, i int32, closing bool) {
	prev, next := t.links(i, closing)
	p, n := *prev, *next
	if p != none {
		_, pn := t.links(p, closing)
		*pn = n
	} else {
		l.head = n
	}
	if n != none {
		pp, _ := t.links(n, closing)
		*pp = p
	} else {
		l.tail = p
	}
	*prev, *next = none, none
}
