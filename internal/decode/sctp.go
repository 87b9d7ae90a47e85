package decode

import "encoding/binary"

var sctpChunkNames = map[uint8]string{
	0: "DATA", 1: "INIT", 2: "INIT ACK", 3: "SACK", 4: "HB REQ", 5: "HB ACK", 6: "ABORT",
	7: "SHUTDOWN", 8: "SHUTDOWN ACK", 9: "ERROR", 10: "COOKIE ECHO", 11: "COOKIE ACK",
	12: "ECN ECHO", 13: "ECN CWR", 14: "SHUTDOWN COMPLETE", 15: "AUTH", 64: "I-DATA",
	128: "ASCONF-ACK", 130: "RE-CONFIG", 192: "FOR CUM TSN", 193: "ASCONF",
}

var sctpPPIDs = map[uint32]string{1: "IUA", 2: "M2UA", 3: "M3UA", 4: "SUA", 5: "M2PA", 6: "V5UA",
	7: "H.248", 8: "BICC/Q.2150.3", 9: "TALI", 10: "DUA", 11: "ASAP", 12: "ENRP", 13: "H.323",
	14: "Q.IPC/Q.2150.3", 15: "SIMCO", 16: "DDP Segment", 17: "DDP Stream", 18: "S1AP", 19: "RUA",
	20: "HNBAP", 21: "ForCES-HP", 22: "ForCES-MP", 23: "ForCES-LP", 24: "SBc-AP", 25: "NBAP",
	27: "X2AP", 28: "IRCP", 29: "LCS-AP", 30: "MPICH2", 31: "SABP", 32: "FGP", 33: "PPP",
	34: "CALCAPP", 35: "SSP", 36: "NPMP-CTRL", 37: "NPMP-DATA", 38: "ECHO", 39: "DPP", 40: "M2AP",
	41: "M3AP", 42: "SSH", 43: "DIAMETER", 44: "DIAMETER DTLS", 45: "R14P", 47: "WebRTC DCEP",
	51: "WebRTC String", 53: "WebRTC Binary", 56: "WebRTC String Empty", 57: "WebRTC Binary Empty",
	60: "NGAP", 62: "XwAP"}

// sctp prints the chunks of an SCTP packet b (its common header first)
// the way tcpdump does without -v: "sctp (1) [INIT] [init tag: 1] ...".
//
// plen is the SCTP packet's length by the IP header: as tcpdump, chunks are
// walked to it, and a chunk (or its padding) not wholly captured ends the
// line with " [|sctp]" before its number.
func (s *Summarizer) sctp(b []byte, plen int) {
	s.str("sctp")
	c := b[min(12, len(b)):]
	if len(b) < 12 {
		s.str(" [|sctp]")
		return
	}
	rem := plen - 12
	if plen < len(b) {
		c = b[12:plen]
	}
	for n := 1; rem > 0; n++ {
		sep := " ("
		if n > 1 {
			sep = ", ("
		}
		if rem < 4 {
			s.str(sep)
			s.int(n)
			s.str(") [chunk descriptor cut off at end of packet]")
			return
		}
		if len(c) < 4 {
			s.str(" [|sctp]")
			return
		}
		typ, flags := c[0], c[1]
		l := int(binary.BigEndian.Uint16(c[2:]))
		if l < 4 {
			s.str(sep)
			s.int(n)
			s.str(") [Bad chunk length ")
			s.int(l)
			s.str(", < size of chunk descriptor]")
			return
		}
		if l > len(c) {
			s.str(" [|sctp]")
			return
		}
		s.str(sep)
		s.int(n)
		s.str(") [")
		if name, ok := sctpChunkNames[typ]; ok {
			s.str(name)
		} else {
			s.str("Unknown chunk type: ")
			s.uint(uint64(typ))
		}
		s.str("] ")
		v := c[4:l]
		switch typ {
		case 0:
			if flags&4 != 0 {
				s.str("(U)")
			}
			if flags&2 != 0 {
				s.str("(B)")
			}
			if flags&1 != 0 {
				s.str("(E)")
			}
			if flags&7 != 0 {
				s.str(" ")
			}
			if len(v) < 12 {
				s.str(" [|sctp]")
				return
			}
			s.str("[TSN: ")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
			s.str("] [SID: ")
			s.uint(uint64(binary.BigEndian.Uint16(v[4:])))
			s.str("] [SSEQ ")
			s.uint(uint64(binary.BigEndian.Uint16(v[6:])))
			s.str("] [PPID ")
			ppid := binary.BigEndian.Uint32(v[8:])
			if name, ok := sctpPPIDs[ppid]; ok {
				s.str(name)
			} else {
				s.str("0x")
				s.buf = appendHex(s.buf, ppid)
			}
			s.str("] ")
		case 1, 2:
			if len(v) < 16 {
				s.str(" [|sctp]")
				return
			}
			s.str("[init tag: ")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
			s.str("] [rwnd: ")
			s.uint(uint64(binary.BigEndian.Uint32(v[4:])))
			s.str("] [OS: ")
			s.uint(uint64(binary.BigEndian.Uint16(v[8:])))
			s.str("] [MIS: ")
			s.uint(uint64(binary.BigEndian.Uint16(v[10:])))
			s.str("] [init TSN: ")
			s.uint(uint64(binary.BigEndian.Uint32(v[12:])))
			s.str("] ")
		case 3:
			if len(v) < 12 {
				s.str(" [|sctp]")
				return
			}
			s.str("[cum ack ")
			s.uint(uint64(binary.BigEndian.Uint32(v)))
			s.str("] [a_rwnd ")
			s.uint(uint64(binary.BigEndian.Uint32(v[4:])))
			s.str("] [#gap acks ")
			s.uint(uint64(binary.BigEndian.Uint16(v[8:])))
			s.str("] [#dup tsns ")
			s.uint(uint64(binary.BigEndian.Uint16(v[10:])))
			s.str("] ")
		}
		padded := (l + 3) &^ 3
		if padded > len(c) && padded <= rem {
			s.str(" [|sctp]")
			return
		}
		c = c[min(padded, len(c)):]
		rem -= padded
	}
}
