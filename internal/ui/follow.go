package ui

// Follow TCP Stream: a connection's payload in both directions, in the
// order each side sent it. Each direction is reassembled by sequence
// number: a SYN and a FIN each take one number, a retransmission is read
// once, an overlap contributes only its new bytes, a segment that comes
// before its predecessors waits for them. Chunks are given in the order
// their bytes became contiguous, as Wireshark's "Follow TCP Stream"
// gives them.

import "sort"

// Segment is one TCP segment of a connection.
type Segment struct {
	Dir     int // 0: from the client (the initiator), 1: from the server
	Seq     uint32
	SYN     bool
	FIN     bool
	RST     bool
	Payload []byte
}

// Chunk is a run of one direction's bytes.
type Chunk struct {
	Dir  int
	Data []byte
}

// seqLT compares sequence numbers modulo 2^32 (RFC 793).
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

type half struct {
	started bool
	next    uint32 // the next sequence number expected
	finned  bool
	pending []Segment
}

// reassembler follows both directions of one connection.
type reassembler struct {
	h   [2]half
	out []Chunk
}

func (r *reassembler) emit(dir int, b []byte) {
	if len(b) == 0 {
		return
	}
	if n := len(r.out); n > 0 && r.out[n-1].Dir == dir {
		r.out[n-1].Data = append(r.out[n-1].Data, b...)
		return
	}
	r.out = append(r.out, Chunk{Dir: dir, Data: append([]byte(nil), b...)})
}

// add takes one segment; it reports whether the segment was used (false:
// it waits for the bytes before it).
func (r *reassembler) add(s Segment) bool {
	h := &r.h[s.Dir]
	if !h.started {
		h.started = true
		h.next = s.Seq
		if s.SYN {
			h.next = s.Seq + 1
		}
	} else if s.SYN {
		// A retransmitted SYN (or SYN/ACK): nothing new, unless it
		// carries data, which starts after its sequence number.
		s.Seq++
		s.SYN = false
	}
	start := s.Seq
	if s.SYN {
		start++
	}
	end := start + uint32(len(s.Payload))
	if seqLT(h.next, start) {
		return false // a gap before it: wait
	}
	// Bytes before next were read already (a retransmission or an
	// overlap): keep only what is new.
	if skip := h.next - start; int64(skip) < int64(len(s.Payload)) {
		r.emit(s.Dir, s.Payload[skip:])
		h.next = end
	}
	if s.FIN && h.next == end && !h.finned {
		h.next++
		h.finned = true
	}
	return true
}

// drain uses what waited in direction dir and now fits.
func (r *reassembler) drain(dir int) {
	h := &r.h[dir]
	for progress := true; progress && len(h.pending) > 0; {
		progress = false
		for i := 0; i < len(h.pending); i++ {
			if r.add(h.pending[i]) {
				h.pending = append(h.pending[:i], h.pending[i+1:]...)
				progress = true
				break
			}
		}
	}
}

// Follow reassembles a connection's segments, in capture order, into its
// transcript. Bytes still missing at the end (a segment never captured)
// are skipped: what follows the gap is given after it, in sequence order.
func Follow(segs []Segment) []Chunk {
	var r reassembler
	for _, s := range segs {
		if s.RST && len(s.Payload) == 0 {
			continue
		}
		if !r.add(s) {
			r.h[s.Dir].pending = append(r.h[s.Dir].pending, s)
			continue
		}
		r.drain(s.Dir)
	}
	// Gaps that never filled: go on after each, in sequence order.
	for dir := range r.h {
		h := &r.h[dir]
		for len(h.pending) > 0 {
			sort.SliceStable(h.pending, func(i, j int) bool { return seqLT(h.pending[i].Seq, h.pending[j].Seq) })
			h.next = h.pending[0].Seq
			if h.pending[0].SYN {
				h.next++
			}
			r.drain(dir)
		}
	}
	return r.out
}
