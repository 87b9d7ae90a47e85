package decode

import "bufio"

// HexOnly writes data as tcpdump -x does (its hex_print): lines of eight
// groups of two bytes, each line "\n\t0xOOOO: " then " hhhh" per group,
// an odd last byte as " hh". Nothing ends the last line: tcpdump's newline
// after the packet does.
func HexOnly(w *bufio.Writer, data []byte) {
	for off := 0; off < len(data); off += 16 {
		w.WriteString("\n\t0x")
		w.Write(appendOffset(nil, off))
		w.WriteString(": ")
		chunk := data[off:min(off+16, len(data))]
		for i := 0; i < len(chunk); i += 2 {
			w.WriteByte(' ')
			w.WriteByte(hexDigits[chunk[i]>>4])
			w.WriteByte(hexDigits[chunk[i]&15])
			if i+1 < len(chunk) {
				w.WriteByte(hexDigits[chunk[i+1]>>4])
				w.WriteByte(hexDigits[chunk[i+1]&15])
			}
		}
	}
}

// ASCIIDump writes data as tcpdump -A does (its ascii_print): a newline,
// then each byte: printable ones, tab, space and newline as they are, a
// carriage return left out where a newline follows it or it is one of the
// last two bytes, any other byte as '.'.
func ASCIIDump(w *bufio.Writer, data []byte) {
	w.WriteByte('\n')
	for i, c := range data {
		rest := len(data) - i - 1
		switch {
		case c == '\r':
			if rest > 1 && data[i+1] != '\n' {
				w.WriteByte('.')
			}
		case c > 0x20 && c < 0x7f, c == '\t', c == ' ', c == '\n':
			w.WriteByte(c)
		default:
			w.WriteByte('.')
		}
	}
}
