package selection

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Uncompressed reads a capture as tcpdump and tshark do: when it starts
// with gzip's or zstd's magic, through the decompressor. done releases
// the decompressor.
func Uncompressed(br *bufio.Reader) (*bufio.Reader, func(), error) {
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

// fileSource is a capture file's packets (-r FILE: pcap or pcapng, gzip
// or zstd compressed, - for standard input), read as they are needed, in
// the file's order; packet numbers count from 1 as tcpdump's and
// Wireshark's do. The first walk goes on from the reader open read the
// header and first packet with (standard input can be read only once); a
// later walk reads the file again.
type fileSource struct {
	path   string
	first  *pcapio.Packet // nil: the file has no packet
	ifaces []pcapio.Interface
	rd     *pcapio.Reader // left open by openFile, for the first walk
	done   func()
}

func openFile(path string) (*fileSource, error) {
	v := &fileSource{path: path}
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
	v.ifaces, v.rd, v.done = rd.Interfaces(), rd, closeFn
	return v, nil
}

// close releases the file.
func (v *fileSource) close() {
	if v.done != nil {
		v.done()
		v.done, v.rd = nil, nil
	}
}

// linkType is the first packet's link type (else the first interface's).
func (v *fileSource) linkType() uint32 {
	if v.first != nil {
		return v.first.LinkType
	}
	if len(v.ifaces) > 0 {
		return v.ifaces[0].LinkType
	}
	return 1
}

func (v *fileSource) open() (*pcapio.Reader, func(), error) {
	var in io.Reader = os.Stdin
	closeFile := func() {}
	if v.path != "-" {
		f, err := os.Open(v.path)
		if err != nil {
			return nil, nil, err
		}
		in, closeFile = f, func() { f.Close() }
	}
	src, done, err := Uncompressed(bufio.NewReaderSize(in, 1<<20))
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
func (v *fileSource) read(ctx context.Context, fn func(pcapio.Packet) error) error {
	rd, first := v.rd, v.first
	if rd != nil {
		v.rd = nil // the next walk reads the file again
		defer v.close()
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

// streams is the file's packets of r that f accepts, in the file's order.
func (v *fileSource) streams(ctx context.Context, r store.Range, f *Filter) []stream {
	return []stream{pushed(func(emit func(store.Record) error) error {
		var num int64
		lo, hi := r.Bounds()
		return v.read(ctx, func(p pcapio.Packet) error {
			num++
			rec := store.Record{Number: num, Timestamp: p.Timestamp, OrigLen: p.OrigLen, LinkType: p.LinkType, Interface: p.Interface, Data: p.Data}
			if rec.Timestamp < lo || rec.Timestamp > hi {
				return nil
			}
			if ok, err := keep(ctx, f, rec); !ok || err != nil {
				return err
			}
			return emit(rec)
		})
	})}
}

// summary describes the file as a session.
func (v *fileSource) summary() store.Session {
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
func (v *fileSource) linkTypes() []uint32 {
	if out := linkTypesOf(v.interfaces()); len(out) > 0 {
		return out
	}
	return []uint32{v.linkType()}
}

func (v *fileSource) interfaces() []store.Interface {
	out := make([]store.Interface, len(v.ifaces))
	for i, it := range v.ifaces {
		out[i] = store.Interface{ID: i, Name: it.Name, Description: it.Description, Filter: it.Filter, LinkType: it.LinkType, Snaplen: it.Snaplen}
	}
	return out
}
