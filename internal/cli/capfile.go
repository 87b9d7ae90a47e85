package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// uncompressed reads a capture as tcpdump and tshark do: when it starts
// with gzip's or zstd's magic, through the decompressor.
func uncompressed(br *bufio.Reader) (*bufio.Reader, func(), error) {
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return bufio.NewReaderSize(z, 1<<20), func() { z.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		z, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return bufio.NewReaderSize(z, 1<<20), z.Close, nil
	}
	return br, func() {}, nil
}

// fileView is a selection of a capture file's packets (-r FILE), read as
// they are needed, in the file's order; packet numbers count from 1 as
// tcpdump's and Wireshark's do. The first walk goes on from the reader
// open read the header and first packet with (standard input can be read
// only once); a later walk reads the file again.
type fileView struct {
	path   string
	r      store.Range
	expr   string
	first  *pcapio.Packet // nil: the file has no packet
	ifaces []pcapio.Interface
	rd     *pcapio.Reader // left open by open, for the first walk
	close  func()
}

func openFileView(path string, r store.Range, expr string) (*fileView, error) {
	v := &fileView{path: path, r: r, expr: expr}
	rd, closeFn, err := v.open()
	if err != nil {
		return nil, err
	}
	p, err := rd.Next()
	switch {
	case err == io.EOF:
	case err != nil:
		closeFn()
		return nil, fmt.Errorf("%s: %w", path, err)
	default:
		v.first = &p
	}
	v.ifaces, v.rd, v.close = rd.Interfaces(), rd, closeFn
	if expr != "" {
		// Compile for the first packet's link type now, so that a bad
		// expression is reported before anything else.
		if _, err := filter.Compile(expr, filter.Options{LinkType: v.linkType(), Netmask: filter.ZeroNetmask}); err != nil {
			v.Close()
			return nil, err
		}
	}
	return v, nil
}

// Close releases the file.
func (v *fileView) Close() {
	if v.close != nil {
		v.close()
		v.close, v.rd = nil, nil
	}
}

func (v *fileView) linkType() uint32 {
	if v.first != nil {
		return v.first.LinkType
	}
	if len(v.ifaces) > 0 {
		return v.ifaces[0].LinkType
	}
	return 1
}

func (v *fileView) open() (*pcapio.Reader, func(), error) {
	var in io.Reader = os.Stdin
	closeFile := func() {}
	if v.path != "-" {
		f, err := os.Open(v.path)
		if err != nil {
			return nil, nil, err
		}
		in, closeFile = f, func() { f.Close() }
	}
	src, done, err := uncompressed(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		closeFile()
		return nil, nil, fmt.Errorf("%s: %w", v.path, err)
	}
	rd, err := pcapio.NewReader(src)
	if err != nil {
		done()
		closeFile()
		return nil, nil, fmt.Errorf("%s: %w", v.path, err)
	}
	return rd, func() { done(); closeFile() }, nil
}

// read calls fn for each packet until it returns an error (store.ErrStop
// ends without one).
func (v *fileView) read(ctx context.Context, fn func(pcapio.Packet) error) error {
	rd, first := v.rd, v.first
	if rd != nil {
		v.rd = nil // the next walk reads the file again
		defer v.Close()
	} else {
		if v.path == "-" {
			return errors.New("standard input can be read only once")
		}
		var closeFn func()
		var err error
		if rd, closeFn, err = v.open(); err != nil {
			return err
		}
		defer closeFn()
		first = nil
	}
	if first != nil {
		if err := fn(*first); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", v.path, err)
		}
		if err := fn(p); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
}

// fileFilter is a filter for a file's packets, compiled for each link
// type as it first appears (a pcapng file may describe interfaces late),
// with tcpdump's netmask for files.
type fileFilter struct {
	expr  string
	progs map[uint32]*filter.Program
}

func newFileFilter(expr string) *fileFilter {
	return &fileFilter{expr: expr, progs: map[uint32]*filter.Program{}}
}

func (f *fileFilter) match(rec store.Record) (bool, error) {
	prog, ok := f.progs[rec.LinkType]
	if !ok {
		var err error
		if prog, err = filter.Compile(f.expr, filter.Options{LinkType: rec.LinkType, Netmask: filter.ZeroNetmask}); err != nil {
			return false, fmt.Errorf("filter for the %s packets: %w", filter.LinkTypeName(rec.LinkType), err)
		}
		f.progs[rec.LinkType] = prog
	}
	return prog.Match(rec.Data, rec.OrigLen), nil
}

// walk calls fn for the selected packets, at most limit (0: all).
func (v *fileView) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	ff := newFileFilter(v.expr)
	var num, n int64
	return v.read(ctx, func(p pcapio.Packet) error {
		num++
		rec := store.Record{Number: num, Timestamp: p.Timestamp, OrigLen: p.OrigLen, LinkType: p.LinkType, Interface: p.Interface, Data: p.Data}
		lo, hi := v.r.Bounds()
		if rec.Timestamp < lo || rec.Timestamp > hi {
			return nil
		}
		if v.expr != "" {
			if ok, err := ff.match(rec); err != nil || !ok {
				return err
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			return store.ErrStop
		}
		return nil
	})
}

// summary describes the file as a session.
func (v *fileView) summary() store.Session {
	s := store.Session{Name: v.path, Source: "file", LinkType: v.linkType(), Snaplen: store.MaxCapLen}
	if v.first != nil {
		s.Packets = 1 // at least; the file is read as it is used
	}
	if len(v.ifaces) == 1 {
		s.Interface = v.ifaces[0].Name
		if v.ifaces[0].Snaplen > 0 {
			s.Snaplen = v.ifaces[0].Snaplen
		}
	}
	return s
}

// linkTypes are the link types of the file's interfaces (as far as the
// first packet: pcapng may describe more later).
func (v *fileView) linkTypes() []uint32 {
	if out := linkTypesOf(v.storeInterfaces()); len(out) > 0 {
		return out
	}
	return []uint32{v.linkType()}
}

// linkTypesOf lists the interfaces' link types, each once, in order.
func linkTypesOf(ifaces []store.Interface) []uint32 {
	var out []uint32
	for _, it := range ifaces {
		if !slices.Contains(out, it.LinkType) {
			out = append(out, it.LinkType)
		}
	}
	return out
}

func (v *fileView) storeInterfaces() []store.Interface {
	out := make([]store.Interface, len(v.ifaces))
	for i, it := range v.ifaces {
		out[i] = store.Interface{ID: i, Name: it.Name, Description: it.Description, Filter: it.Filter, LinkType: it.LinkType, Snaplen: it.Snaplen}
	}
	return out
}
