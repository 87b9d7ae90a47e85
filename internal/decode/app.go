package decode

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Application protocols, recognised by port as tcpdump -n does, printed
// the way tcpdump prints them without -v.

// Well-known ports the printers below are chosen by.
const (
	portFTP     = 21
	portSSH     = 22
	portSMTP    = 25
	portDNS     = 53
	portBOOTPS  = 67
	portBOOTPC  = 68
	portHTTP    = 80
	portNTP     = 123
	portBGP     = 179
	portLDP     = 646
	portRTSP    = 554
	portRTSPAlt = 8554
	portTelnet  = 23
	portWhois   = 43
	portPPTP    = 1723
	portMSDP    = 639
	portBEEP    = 10288
	portSIP     = 5060
	portMDNS    = 5353
	portHTTPAlt = 8080
	portVXLAN   = 4789
	portGeneve  = 6081
	portRedis   = 6379
)

func ports(b []byte) (sport, dport uint16) {
	return binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
}

func either(sport, dport, p uint16) bool { return sport == p || dport == p }

// tcpPayload prints what follows "length N" of a TCP segment whose header
// is b and whose captured payload is p.
func (s *Summarizer) tcpPayload(b, p []byte) {
	sport, dport := ports(b)
	switch {
	case either(sport, dport, portHTTP), either(sport, dport, portHTTPAlt), either(sport, dport, 3128):
		s.textProto("HTTP", p, httpFirstLine)
	case either(sport, dport, portFTP):
		s.textProto("FTP", p, nil)
	case either(sport, dport, portSMTP):
		s.textProto("SMTP", p, nil)
	case either(sport, dport, portTelnet):
		// tcpdump's telnet_print reads the first byte for IAC.
		if len(p) == 0 {
			s.str(" [|telnet]")
		}
	case either(sport, dport, portWhois):
		s.textProto("WHOIS", p, nil)
	case either(sport, dport, portPPTP):
		if len(p) < 2 { // the message's length, pptp_print's first read
			s.str(": pptp [|pptp]")
		}
	case either(sport, dport, portMSDP):
		// msdp_print gives up on a TLV shorter than its header.
		if len(p) < 3 || binary.BigEndian.Uint16(p[1:]) < 3 {
			s.str(": msdp [|msdp]")
		}
	case either(sport, dport, portBEEP):
		if !beepFrame(p) {
			s.str(" BEEP (payload or undecoded)")
		}
	case either(sport, dport, portRTSP), either(sport, dport, portRTSPAlt):
		s.textProto("RTSP", p, httpFirstLine)
	case either(sport, dport, portSSH):
		s.sshVersion(p, s.appLen)
	case either(sport, dport, portRedis):
		s.resp(p, s.appLen)
	case either(sport, dport, portLDP):
		s.ldp(p, s.appLen)
	case either(sport, dport, portBGP):
		s.str(": BGP")
		if s.opts.Verbose {
			s.bgpVerbose(p)
		}
	case either(sport, dport, portDNS), either(sport, dport, portMDNS):
		// tcpdump's domain_print over TCP: a two-byte length
		// that must be the rest of the segment's.
		length := s.appLen
		switch {
		case length < 2:
			s.str(" [DNS over TCP: length ")
			s.int(length)
			s.str(" < 2] (invalid)")
			return
		case len(p) < 2:
			s.str(" [|domain]")
			return
		case int(binary.BigEndian.Uint16(p)) != length-2:
			s.str(" [prefix length(")
			s.uint(uint64(binary.BigEndian.Uint16(p)))
			s.str(") != length(")
			s.int(length - 2)
			s.str(")] (invalid)")
			return
		}
		s.str(" ")
		s.dns(p[2:], length-2, either(sport, dport, portMDNS))
	}
}

// beepFrame reports whether p starts with a BEEP frame header tcpdump's
// beep_print decodes (captured in full).
func beepFrame(p []byte) bool {
	for _, h := range []string{"MSG ", "RPY ", "ERR ", "ANS ", "NUL ", "SEQ ", "END"} {
		if bytes.HasPrefix(p, []byte(h)) {
			return true
		}
	}
	return false
}

// sshVersion prints an SSH identification line ("SSH-2.0-...") as
// tcpdump's ssh_print does: ": SSH: " and the line when it ends within
// the segment's plen bytes, nothing for other data, and " [|ssh]" when the
// capture ends before either is known.
func (s *Summarizer) sshVersion(p []byte, plen int) {
	for i := 0; i < plen; i++ {
		if i >= len(p) {
			s.str(" [|ssh]")
			return
		}
		c := p[i]
		switch {
		case i < 4:
			if c != "SSH-"[i] {
				return
			}
		case c == '\n':
			s.str(": SSH: ")
			s.printable(p[:i])
			return
		case c == '\r':
			if i+1 >= plen {
				return
			}
			if i+1 >= len(p) {
				s.str(" [|ssh]")
				return
			}
			if p[i+1] == '\n' {
				s.str(": SSH: ")
				s.printable(p[:i])
			}
			return
		case c < 0x20 || c > 0x7e:
			return
		}
	}
}

// resp prints ": RESP" for a Redis segment, as tcpdump's resp_print does,
// and " [|resp]" where tcpdump finds the message cut: captured data ending
// before the segment does, or no line end in it. Simple strings, errors
// and integers ("+OK\r\n") are printed quoted; other messages only by
// name.
func (s *Summarizer) resp(p []byte, plen int) {
	s.str(": RESP")
	if len(p) < plen || !bytes.ContainsAny(p, "\r\n") {
		s.str(" [|resp]")
		return
	}
	if len(p) > 0 && (p[0] == '+' || p[0] == '-' || p[0] == ':') {
		if i := bytes.Index(p, []byte("\r\n")); i > 0 && i+2 == len(p) {
			s.str(` "`)
			s.printable(p[1:i])
			s.str(`"`)
		}
	}
}

// udpPayload prints a UDP payload p of length ulen in place of "UDP,
// length N" when it knows the protocol, and reports whether it did.
func (s *Summarizer) udpPayload(b, p []byte, ulen int) bool {
	sport, dport := ports(b)
	switch {
	case either(sport, dport, portDNS):
		s.dns(p, ulen, false)
	case either(sport, dport, portMDNS):
		s.dns(p, ulen, true)
	case either(sport, dport, portBOOTPS), either(sport, dport, portBOOTPC):
		s.bootp(p, ulen)
	case either(sport, dport, portNTP):
		return s.ntp(p, ulen)
	case either(sport, dport, portLDP):
		s.ldp(p, ulen)
	case dport == portVXLAN:
		return s.vxlan(p, ulen)
	case dport == portGeneve:
		return s.geneve(p, ulen)
	case either(sport, dport, portSIP):
		s.appLen = ulen
		s.textProtoBare("SIP", p, httpFirstLine)
	case either(sport, dport, 161), either(sport, dport, 162):
		if len(p) < ulen {
			// tcpdump's snmp_print: " ", then its first element, the
			// whole message, is not captured.
			s.str("  [|snmp]")
			return true
		}
		return s.snmp(p)
	case either(sport, dport, 546), either(sport, dport, 547):
		if len(p) < 1 || p[0] == 0 || int(p[0]) >= len(dhcp6Types) {
			return false
		}
		s.str("dhcp6 ")
		s.str(dhcp6Types[p[0]])
	default:
		return false
	}
	return true
}

var httpMethods = [][]byte{
	[]byte("GET"), []byte("PUT"), []byte("COPY"), []byte("HEAD"), []byte("LOCK"), []byte("MOVE"),
	[]byte("POLL"), []byte("POST"), []byte("BCOPY"), []byte("BMOVE"), []byte("MKCOL"), []byte("TRACE"),
	[]byte("LABEL"), []byte("MERGE"), []byte("DELETE"), []byte("SEARCH"), []byte("UNLOCK"), []byte("REPORT"),
	[]byte("UPDATE"), []byte("NOTIFY"), []byte("BDELETE"), []byte("CONNECT"), []byte("OPTIONS"),
	[]byte("CHECKIN"), []byte("PROPFIND"), []byte("CHECKOUT"), []byte("CCM_POST"), []byte("SUBSCRIBE"),
	[]byte("PROPPATCH"), []byte("BPROPFIND"), []byte("BPROPPATCH"), []byte("UNCHECKOUT"),
	[]byte("MKACTIVITY"), []byte("MKWORKSPACE"), []byte("UNSUBSCRIBE"), []byte("RPC_CONNECT"),
	[]byte("VERSION-CONTROL"), []byte("BASELINE-CONTROL"),
	// SIP and RTSP requests share the form
	[]byte("REGISTER"), []byte("INVITE"), []byte("ACK"), []byte("CANCEL"), []byte("BYE"),
	[]byte("PRACK"), []byte("INFO"), []byte("MESSAGE"), []byte("REFER"), []byte("PUBLISH"),
	[]byte("DESCRIBE"), []byte("ANNOUNCE"), []byte("SETUP"), []byte("PLAY"), []byte("PAUSE"),
	[]byte("TEARDOWN"), []byte("GET_PARAMETER"), []byte("SET_PARAMETER"), []byte("REDIRECT"), []byte("RECORD"),
}

// httpFirstLine reports whether line starts like an HTTP-style request
// ("METHOD ") or status line ("HTTP/1.1 ", "SIP/2.0 ", "RTSP/1.0 ").
func httpFirstLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	w := line[:sp]
	if bytes.HasPrefix(w, []byte("HTTP/")) || bytes.HasPrefix(w, []byte("SIP/")) || bytes.HasPrefix(w, []byte("RTSP/")) {
		return true
	}
	for _, m := range httpMethods {
		if bytes.Equal(w, m) {
			return true
		}
	}
	return false
}

// textProto prints ": NAME" and, when the payload starts with a complete
// line that ok accepts (any line if ok is nil), ": " and that line.
func (s *Summarizer) textProto(name string, p []byte, ok func([]byte) bool) {
	s.str(": ")
	s.textProtoBare(name, p, ok)
}

// textProtoBare is textProto without the leading ": " (UDP protocols,
// whose line starts with the name).
func (s *Summarizer) textProtoBare(name string, p []byte, ok func([]byte) bool) {
	s.str(name)
	if s.opts.Verbose {
		s.textLinesVerbose(name, p, ok)
		return
	}
	plen := max(s.appLen, len(p))
	if len(p) < plen && ok != nil && !requestTokensCaptured(p) {
		// tcpdump cannot tell a request or response line from
		// a continuation: the name alone.
		return
	}
	// tcpdump's print_txt_line: the first line, printable ASCII and tabs
	// up to CR-LF or LF.
	for i := 0; i < plen; i++ {
		if i >= len(p) {
			s.str(" [|")
			s.str(strings.ToLower(name))
			s.str("]")
			return
		}
		c := p[i]
		switch {
		case c == '\n', c == '\r' && i+1 < len(p) && p[i+1] == '\n':
			line := p[:i]
			if ok != nil && !ok(line) {
				return
			}
			s.str(": ")
			s.printable(line)
			return
		case c == '\r' && i+1 >= plen:
			return
		case c == '\r' && i+1 >= len(p):
			if ok == nil || ok(p[:i]) {
				s.str(" [|")
				s.str(strings.ToLower(name))
				s.str("]")
			}
			return
		case c == '\r', (c < 0x20 || c > 0x7e) && c != '\t':
			return
		}
	}
	if len(p) >= plen && plen > 0 && (ok == nil || ok(p[:plen])) {
		// A whole line without its end: tcpdump prints it as cut.
		s.str(": ")
		s.printable(p[:plen])
		s.str(" [|")
		s.str(strings.ToLower(name))
		s.str("]")
	}
}

// requestTokensCaptured reports whether tcpdump's txtproto_print takes a
// cut payload p for a request or response line: a first word (up to a
// blank or line end, printable ASCII, within the captured bytes) that is
// a method, or a second word that is a three-digit status code.
func requestTokensCaptured(p []byte) bool {
	tok, rest, ok := fetchToken(p)
	if !ok {
		return false
	}
	for _, m := range httpMethods {
		if bytes.EqualFold(tok, m) {
			return true
		}
	}
	tok, _, ok = fetchToken(rest)
	return ok && len(tok) == 3 && isDigit(tok[0]) && isDigit(tok[1]) && isDigit(tok[2])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// fetchToken is tcpdump's fetch_token over captured bytes p: the word at
// the start of p and what follows the blanks after it, or false when p
// ends inside the word or the word has a byte outside printable ASCII.
func fetchToken(p []byte) (tok, rest []byte, ok bool) {
	i := 0
	for ; ; i++ {
		if i >= len(p) {
			return nil, nil, false
		}
		c := p[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			break
		}
		if c < 0x20 || c > 0x7e {
			return nil, nil, false
		}
	}
	if i == 0 {
		return nil, nil, false
	}
	tok = p[:i]
	for i < len(p) && (p[i] == ' ' || p[i] == '\t') {
		i++
	}
	return tok, p[i:], true
}

// printable writes b with bytes outside printable ASCII as '.'.
func (s *Summarizer) printable(b []byte) {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			if c == '\t' {
				s.buf = append(s.buf, c)
				continue
			}
			c = '.'
		}
		s.buf = append(s.buf, c)
	}
}

// bootp prints a BOOTP/DHCP message: "BOOTP/DHCP, Request from MAC" or
// "BOOTP/DHCP, Reply", then the UDP payload length.
func (s *Summarizer) bootp(p []byte, ulen int) {
	s.str("BOOTP/DHCP, ")
	if len(p) < 1 {
		s.str(" [|bootp]")
		return
	}
	switch p[0] {
	case 1:
		s.str("Request")
		if len(p) >= 34 && p[1] == 1 && p[2] == 6 {
			s.str(" from ")
			s.mac(p[28:34])
		} else if len(p) < 34 {
			s.str(" [|bootp]")
			return
		}
	case 2:
		s.str("Reply")
		s.str(",")
	default:
		s.str("op ")
		s.uint(uint64(p[0]))
		s.str(",")
	}
	if p[0] == 1 {
		s.str(",")
	}
	s.str(" length ")
	s.int(ulen)
	if s.opts.Verbose {
		s.bootpVerbose(p)
	}
}

var ntpModes = [8]string{"unspecified", "Symmetric Active", "Symmetric Passive", "Client", "Server", "Broadcast", "Control Message", "Reserved"}

func (s *Summarizer) ntp(p []byte, ulen int) bool {
	if len(p) < 1 {
		if ulen < 1 {
			return false
		}
		s.str(" [|ntp]")
		return true
	}
	s.str("NTPv")
	s.uint(uint64(p[0] >> 3 & 7))
	s.str(", ")
	s.str(ntpModes[p[0]&7])
	s.str(", length ")
	s.int(ulen)
	if mode := p[0] & 7; s.opts.Verbose && mode >= 1 && mode <= 5 && ulen >= 48 {
		s.ntpTimeVerbose(p, ulen)
	}
	return true
}

func (s *Summarizer) vxlan(p []byte, ulen int) bool {
	if len(p) < 8 {
		return false
	}
	s.str("VXLAN, flags [")
	if p[0]&0x08 != 0 {
		s.str("I")
	} else {
		s.str(".")
	}
	s.str("] (0x")
	s.hex8(p[0])
	s.str("), vni ")
	s.uint(uint64(binary.BigEndian.Uint32(p[4:]) >> 8))
	// tcpdump prints the encapsulated frame on a line of its own.
	s.depth++
	if s.depth > maxEncapsulationDepth {
		s.str("[|encapsulation too deep]")
		return true
	}
	s.str("\n")
	s.ethernet(p[8:], ulen-8)
	return true
}

// geneve prints "Geneve, Flags [C], vni 0xa, options [8 bytes]: " and
// the encapsulated frame.
func (s *Summarizer) geneve(p []byte, ulen int) bool {
	if len(p) < 8 || p[0]>>6 != 0 {
		return false
	}
	optLen := int(p[0]&0x3f) * 4
	s.str("Geneve, Flags [")
	switch {
	case p[1]&0xc0 == 0:
		s.str("none")
	case p[1]&0xc0 == 0xc0:
		s.str("O, C")
	case p[1]&0x80 != 0:
		s.str("O")
	default:
		s.str("C")
	}
	s.str("], vni 0x")
	s.buf = appendHex(s.buf, binary.BigEndian.Uint32(p[4:])>>8)
	if s.opts.Link {
		proto := binary.BigEndian.Uint16(p[2:])
		s.str(", proto ")
		s.str(greProtoName(proto))
		s.str(" (0x")
		s.hex16raw(proto)
		s.str(")")
	}
	if len(p) < 8+optLen && ulen >= 8+optLen {
		// tcpdump checks the options are captured before printing them.
		s.str(" [|geneve]")
		return true
	}
	if optLen > 0 {
		s.str(", options [")
		if s.opts.Verbose {
			s.geneveOptions(p[8:min(8+optLen, len(p))], optLen)
		} else {
			s.int(optLen)
			s.str(" bytes")
		}
		s.str("]")
	}
	if s.opts.Verbose {
		s.str("\n\t")
	} else {
		s.str(": ")
	}
	if len(p) < 8+optLen {
		s.str(" [|geneve]")
		return true
	}
	s.depth++
	if s.depth > maxEncapsulationDepth {
		s.str("[|encapsulation too deep]")
		return true
	}
	proto := binary.BigEndian.Uint16(p[2:])
	inner, wire := p[8+optLen:], ulen-8-optLen
	if proto == 0x6558 {
		s.ethernet(inner, wire)
	} else {
		s.ethertype(proto, inner, wire)
	}
	return true
}

var dhcp6Types = [...]string{1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew",
	6: "rebind", 7: "reply", 8: "release", 9: "decline", 10: "reconfigure", 11: "inf-req",
	12: "relay-fwd", 13: "relay-reply", 14: "leasequery", 15: "leasequery-reply"}

// textLinesVerbose prints a text protocol's payload p as tcpdump -v does
// when its first word is a request or a response (ok, or any payload when
// ok is nil): ", length: N" (N the payload's length on the wire) and then
// each line on its own, after a tab, as long as the lines are printable
// text ending in CRLF or LF; a last line without its end is printed
// followed by tcpdump's truncation mark.
func (s *Summarizer) textLinesVerbose(name string, p []byte, ok func([]byte) bool) {
	plen := max(s.appLen, len(p))
	if ok != nil {
		if len(p) < plen {
			if !requestTokensCaptured(p) {
				return
			}
		} else {
			first := p
			if i := bytes.IndexByte(first, '\n'); i >= 0 {
				first = first[:i]
			}
			if !ok(bytes.TrimSuffix(first, []byte{'\r'})) {
				return
			}
		}
	}
	s.str(", length: ")
	s.int(plen)
	// tcpdump's print_txt_line, line after line: a line is printed once
	// its end is seen; the capture ending first gives " [|name]".
	trunc := func() {
		s.str(" [|")
		s.str(strings.ToLower(name))
		s.str("]")
	}
	for idx := 0; idx < plen; {
		start := idx
		end := -1
		for idx < plen {
			if idx >= len(p) {
				trunc()
				return
			}
			c := p[idx]
			if c == '\n' {
				end = idx
				idx++
				break
			}
			if c == '\r' {
				if idx+1 >= plen {
					return // the LF is not in this segment
				}
				if idx+1 >= len(p) {
					trunc()
					return
				}
				if p[idx+1] != '\n' {
					return // binary
				}
				end = idx
				idx += 2
				break
			}
			if (c < 0x20 || c > 0x7e) && c != '\t' {
				return
			}
			idx++
		}
		if end < 0 {
			// Printable to the end, without a line ending.
			s.str("\n\t")
			s.buf = append(s.buf, p[start:idx]...)
			trunc()
			return
		}
		s.str("\n\t")
		s.buf = append(s.buf, p[start:end]...)
	}
}
