package decode

// Helpers for tcpdump's token tables: tok2str and bittok2str.

// bitName is one entry of a bittok2str table: a bit mask and its name.
type bitName struct {
	bit  uint32
	name string
}

// bits prints the names of the masks of t that are all set in v,
// separated by ", ", or none when none is: tcpdump's bittok2str.
func (s *Summarizer) bits(t []bitName, none string, v uint32) {
	sep := ""
	for _, b := range t {
		if b.bit != 0 && v&b.bit == b.bit {
			s.str(sep)
			s.str(b.name)
			sep = ", "
		}
	}
	if sep == "" {
		s.str(none)
	}
}

// tok prints m[v], or def when v is not in m: tcpdump's tok2str with a
// default without a number in it.
func (s *Summarizer) tok(m map[uint32]string, def string, v uint32) {
	if n, ok := m[v]; ok {
		s.str(n)
		return
	}
	s.str(def)
}
