package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/packetrecorderd/packetrecorderd/internal/atomicfile"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// fileTee is a recorder.Sink that also writes every committed packet to a
// capture file (capture -w), as tcpdump -w would have. Blocks are copied
// when appended and written when their transaction commits, so a
// transaction rolled back and appended again (a reader held a lock) is
// written once.
type fileTee struct {
	recorder.Sink
	w       pcapio.PacketWriter
	bw      *bufio.Writer
	cw      *countingWriter // bytes of the current file, buffered ones too
	f       *os.File        // nil: standard output, or between files
	path    string          // the file asked for; f is a temporary beside it
	cur     string          // the current file's name (path unless rotating)
	stdout  bool            // -w -
	pending []store.Block
	link    uint32
	ifaces  []store.Interface
	snaplen int
	// Rotation (-C, -G, -W) as tcpdump's: count is its Cflag_count,
	// gCount its Gflag_count, gTime its Gflag_time (Unix seconds).
	rot           rotation
	count, gCount int
	gTime         int64
	chars         int // digits of the file numbers with -W
	// keepGoing says a database is behind the file: what Commit commits
	// is stored whatever becomes of the file, and when standard output's
	// reader goes away (EPIPE; SIGPIPE is caught while a capture writes
	// to it) the capture goes on without the file (closed is set);
	// without one it stops, as tcpdump -w - does.
	keepGoing bool
	// onLimit, with a database behind, ends the capture when -G -W's
	// files are all written (limitReached): as at Ctrl-C, the database
	// takes every packet the kernel accepted, the files no more.
	onLimit      func()
	limitReached bool
	closed       bool
	notice       io.Writer // where the end of the file output is said
}

// errOutputClosed is a capture's error when the reader of its -w - went
// away and nothing else records the packets.
var errOutputClosed = errors.New("the reader of standard output went away")

// newFileTee opens the file's temporary (or standard output for "-") and
// its writer: pcapng for a .pcapng name, else pcap.
func newFileTee(sink recorder.Sink, path string, stdout io.Writer, ifaces []store.Interface, snaplen int) (*fileTee, error) {
	linkType := ifaces[0].LinkType
	pcapng := formatByExtension(path) == "pcapng"
	for _, it := range ifaces {
		if it.LinkType != linkType && !pcapng {
			return nil, fmt.Errorf("-w %s: the interfaces have several link types: pcap holds one, name a .pcapng file", path)
		}
	}
	t := &fileTee{Sink: sink, path: path, cur: path, link: linkType, ifaces: ifaces, snaplen: snaplen, stdout: path == "-"}
	var out io.Writer = stdout
	if !t.stdout {
		f, err := createTemp(path)
		if err != nil {
			return nil, err
		}
		t.f, out = f, f
	}
	if err := t.start(out); err != nil {
		return nil, err
	}
	return t, nil
}

// createTemp creates the temporary beside path that becomes it.
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600, as the database
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("-w %s: %w", path, err)
	}
	return f, nil
}

// start writes the file's header to out: pcapng for a .pcapng name (each
// interface described), else pcap.
func (t *fileTee) start(out io.Writer) error {
	t.bw = bufio.NewWriterSize(out, 256<<10)
	t.cw = &countingWriter{w: t.bw}
	ifaces, snaplen, path := t.ifaces, t.snaplen, t.cur
	var err error
	if formatByExtension(t.path) == "pcapng" {
		host, _ := os.Hostname()
		pw, perr := pcapio.NewPcapngWriter(t.cw, pcapio.PcapngConfig{OS: runtime.GOOS, UserAppl: "packetrecorder " + version() + " on " + host})
		for _, it := range ifaces {
			if perr == nil {
				_, perr = pw.AddInterface(pcapio.Interface{LinkType: it.LinkType, Snaplen: uint32(snaplen), Name: it.Name, Filter: it.Filter, TsResol: 9, FCSLen: -1})
			}
		}
		t.w, err = pw, perr
	} else {
		t.w, err = pcapio.NewPcapWriter(t.cw, t.link, uint32(snaplen), true)
	}
	if err != nil {
		t.abandon()
		return fmt.Errorf("-w %s: %w", path, err)
	}
	return nil
}

// tempName is the temporary file, to hand to another user with the
// database's files ("" for standard output).
func (t *fileTee) tempName() string {
	if t.f == nil {
		return ""
	}
	return t.f.Name()
}

func (t *fileTee) Append(b *store.Block) error {
	if err := t.Sink.Append(b); err != nil {
		return err
	}
	c := *b
	c.Data = append([]byte(nil), b.Data...)
	t.pending = append(t.pending, c)
	return nil
}

func (t *fileTee) Commit() error {
	if err := t.Sink.Commit(); err != nil {
		return err
	}
	if t.closed {
		t.pending = t.pending[:0]
		return nil
	}
	if err := t.write(); err != nil {
		if t.stdout && errors.Is(err, syscall.EPIPE) {
			t.pending = t.pending[:0]
			if t.keepGoing {
				t.closed = true
				fmt.Fprintf(t.notice, "packetrecorder: -w -: %v: file output ended, the capture goes on into the database\n", errOutputClosed)
				return nil
			}
			return t.afterCommit(errOutputClosed)
		}
		return t.afterCommit(err)
	}
	return nil
}

// afterCommit is a file error that came after the database committed the
// packets: they are stored (recorder.CommittedError), unless no database
// is behind and the file was their only place.
func (t *fileTee) afterCommit(err error) error {
	if !t.keepGoing {
		return err
	}
	return &recorder.CommittedError{Err: err}
}

// write writes the committed blocks to the file.
func (t *fileTee) write() error {
	for _, b := range t.pending {
		err := store.WalkBlock(b.Data, 1, b.LinkType, 0, func(r store.Record) error {
			if err := t.rotate(r.Timestamp); err != nil {
				return err
			}
			return t.w.WritePacket(pcapio.Packet{Timestamp: r.Timestamp, OrigLen: r.OrigLen, LinkType: b.LinkType, Interface: b.Interface, Data: r.Data})
		})
		if err != nil {
			t.pending = t.pending[:0]
			if errors.Is(err, errFileLimit) {
				if t.onLimit != nil {
					t.closed, t.limitReached = true, true
					t.onLimit()
					return nil
				}
				return err
			}
			return fmt.Errorf("-w %s: %w", t.cur, err)
		}
	}
	t.pending = t.pending[:0]
	if t.stdout {
		// A pipe: what is committed goes on at once, as tcpdump -w - -U.
		return t.flush()
	}
	return nil
}

func (t *fileTee) Rollback() error {
	t.pending = t.pending[:0]
	return t.Sink.Rollback()
}

func (t *fileTee) flush() error {
	if err := t.w.Flush(); err != nil {
		return fmt.Errorf("-w %s: %w", t.path, err)
	}
	if err := t.bw.Flush(); err != nil {
		return fmt.Errorf("-w %s: %w", t.path, err)
	}
	return nil
}

// finish flushes the file and puts it in place: the file is the whole
// capture or, on failure, not there (its temporary removed).
func (t *fileTee) finish() error {
	if t.closed || !t.stdout && t.f == nil {
		return nil
	}
	err := t.flush()
	if t.stdout && errors.Is(err, syscall.EPIPE) {
		if t.keepGoing {
			return nil // the database has every packet
		}
		return errOutputClosed
	}
	if t.stdout {
		return err
	}
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.Rename(t.f.Name(), t.cur)
	}
	if err != nil {
		os.Remove(t.f.Name())
	}
	t.f = nil
	if err != nil {
		return fmt.Errorf("-w %s: %w", t.cur, err)
	}
	return nil
}

// abandon removes the temporary, unless finish put it in place.
func (t *fileTee) abandon() {
	if t.f != nil && !t.stdout {
		t.f.Close()
		os.Remove(t.f.Name())
	}
}
