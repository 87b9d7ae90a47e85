package decode

import "io"

// HexDump writes data in the layout of `tcpdump -X`: one line per 16 bytes,
// a tab, the offset, the bytes as groups of two in hex and the printable
// ASCII characters (others as '.'):
//
//	\t0x0000:  4500 0054 1c46 4000 4001 9f5a 0a00 0001  E..T.F@.@..Z....
//
// Every line, including the last, ends in a newline. tcpdump -X dumps the
// packet without its link-layer header; pass data[linkHeaderLen:] for the
// same output, or the whole packet to match -XX.
func HexDump(w io.Writer, data []byte) error {
	line := make([]byte, 0, 80)
	for off := 0; off < len(data); off += 16 {
		line = append(appendHexLine(line[:0], data, off), '\n')
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// appendHexLine appends the line of HexDump's layout for the up to 16
// bytes of data at off, without a newline.
func appendHexLine(line, data []byte, off int) []byte {
	const perLine = 16
	chunk := data[off:min(off+perLine, len(data))]
	line = append(line, '\t', '0', 'x')
	line = appendOffset(line, off)
	line = append(line, ':', ' ')
	for i := 0; i < len(chunk); i += 2 {
		line = append(line, ' ', hexDigits[chunk[i]>>4], hexDigits[chunk[i]&15])
		if i+1 < len(chunk) {
			line = append(line, hexDigits[chunk[i+1]>>4], hexDigits[chunk[i+1]&15])
		}
	}
	// Pad a short last line so the ASCII column lines up.
	for n := (len(chunk) + 1) / 2; n < perLine/2; n++ {
		line = append(line, "     "...)
	}
	if len(chunk)%2 == 1 {
		line = append(line, "  "...)
	}
	line = append(line, ' ', ' ')
	for _, c := range chunk {
		if c < 0x21 || c > 0x7e {
			c = '.'
		}
		line = append(line, c)
	}
	return line
}

// hexLines appends data to the summary as tcpdump dumps a payload it does
// not decode: each line of HexDump's layout preceded by a newline.
func (s *Summarizer) hexLines(data []byte) {
	if s.flowOnly {
		return
	}
	for off := 0; off < len(data); off += 16 {
		s.buf = append(s.buf, '\n')
		s.buf = appendHexLine(s.buf, data, off)
	}
}

// appendOffset appends off as at least four hex digits, like %04x.
func appendOffset(dst []byte, off int) []byte {
	var b [16]byte
	n := len(b)
	for v := uint64(off); v > 0 || n > len(b)-4; v >>= 4 {
		n--
		b[n] = hexDigits[v&15]
	}
	return append(dst, b[n:]...)
}
