package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func (a *app) importCmd() *cobra.Command {
	var (
		dbPath       string
		name         string
		keepPartial  bool
		compressName string
		cutSize      string
		cutKeep      string
	)
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import pcap or pcapng files, one session each",
		Example: `  packetrecorder import trace.pcapng
  tcpdump -i eth0 -w - | packetrecorder import -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name != "" && len(args) > 1 {
				return errors.New("--name names one session: import one file at a time with it")
			}
			compression, err := store.ParseCompression(compressName)
			if err != nil {
				return fmt.Errorf("invalid --compression: %w", err)
			}
			cut, err := cutoff.FromFlags(cutSize, cutKeep)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			// A store's segments are written by its daemon alone, and a
			// new database among them would be taken for a segment.
			if err := notInAStore("import: -d", dbPath); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			db, err := store.Open(dbPath, store.Options{Create: true})
			if err != nil {
				return err
			}
			defer db.Close()
			// A bad file is reported and the others go on, as tcpdump -r
			// and mergecap users expect; an interruption or a full disk
			// stops everything.
			failed := 0
			var partial error
			for _, file := range args {
				s, err := a.importFile(ctx, db, file, name, keepPartial, compression, cut)
				var pe *partialError
				if errors.As(err, &pe) {
					fmt.Fprintf(a.stdout, "session %d: imported %d %s (%s) from %s, interrupted\n", s.ID, s.Packets, plural(s.Packets, "packet"), humanBytes(s.Bytes), displayName(file))
					if len(args) == 1 || ctx.Err() != nil {
						return err
					}
					partial = err
					fmt.Fprintf(a.stderr, "packetrecorder: %s\n", oneLine(err))
					continue
				}
				if err != nil {
					if len(args) == 1 || ctx.Err() != nil || errors.Is(err, store.ErrDiskFull) {
						return err
					}
					failed++
					fmt.Fprintf(a.stderr, "packetrecorder: %s\n", oneLine(explain(err)))
					continue
				}
				fmt.Fprintf(a.stdout, "session %d: imported %d %s (%s) from %s\n", s.ID, s.Packets, plural(s.Packets, "packet"), humanBytes(s.Bytes), displayName(file))
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d files not imported (each said why above)", failed, len(args))
			}
			if partial != nil {
				return &partialError{errors.New("some files were imported in part (each said what was kept above)")}
			}
			return nil
		},
	}
	addDatabaseFlag(cmd, &dbPath)
	cmd.Flags().StringVar(&name, "name", "", "session name (default: the file name)")
	cmd.Flags().BoolVar(&keepPartial, "keep-partial", false, "on a damaged or interrupted file keep what was read, as an interrupted session")
	cmd.Flags().StringVar(&compressName, "compression", "zstd", "store blocks compressed where it pays: zstd, s2 (about half zstd's CPU, nearly its saving), or none")
	addCutoffFlags(cmd, &cutSize, &cutKeep)
	return cmd
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func displayName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

// importInput is where an import reads from.
type importInput struct {
	r       io.Reader
	display string
	origin  string
	// stream is a live source (a pipe from tcpdump -w -): it is
	// committed on a clock as a capture is, and a stop signal ends it
	// normally, with every packet that arrives within streamGrace.
	stream bool
	// unblock interrupts a read in progress, where the source allows it
	// (canUnblock).
	unblock    func()
	canUnblock bool
	close      func()
}

// streamGrace is how long a stream import goes on reading after a stop
// signal: Ctrl-C reaches tcpdump -w - too, which then writes out what it
// holds and closes the pipe.
const streamGrace = time.Second

func (a *app) openImport(file string) (importInput, error) {
	host, _ := os.Hostname()
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return importInput{}, fmt.Errorf("import: %w", err)
		}
		origin := file
		if abs, err := filepath.Abs(file); err == nil {
			origin = abs
		}
		return importInput{r: f, display: file, origin: origin + " on " + host, unblock: func() {}, canUnblock: true, close: func() { f.Close() }}, nil
	}
	in := importInput{r: a.stdin, display: "standard input", origin: "standard input on " + host, unblock: func() {}, close: func() {}}
	f, ok := a.stdin.(*os.File)
	if !ok {
		in.stream, in.canUnblock = true, true // a reader of tests: never blocks for long
		return in, nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode().IsRegular() {
		in.canUnblock = true
		return in, nil // a file redirected to standard input: a file
	}
	in.stream = true
	if fi.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		// A pipe in non-blocking mode goes through Go's poller, so a read
		// deadline can end a read that waits for more.
		if err := syscall.SetNonblock(int(f.Fd()), true); err == nil {
			pf := os.NewFile(f.Fd(), "stdin")
			in.r = pf
			in.unblock, in.canUnblock = func() { pf.SetReadDeadline(time.Now()) }, true
			in.close = func() { syscall.SetNonblock(int(pf.Fd()), false) }
		}
	}
	return in, nil
}

// packetBatch carries packets from the file reader to the importer.
type packetBatch struct {
	pkts []pcapio.Packet
	data []byte
	// The interfaces and sections the reader had read by the batch's
	// last packet: the reader appends to its own as it goes on, so the
	// importer takes these, never the Reader's.
	ifaces   []pcapio.Interface
	sections []pcapio.Section
}

const importBatch = 512

// importReader reads packets in a goroutine of its own, so that the
// importer can commit on a clock and act on signals while a read waits
// for a live stream. A batch goes out when it is full or when the input
// has nothing more buffered.
type importReader struct {
	r       *pcapio.Reader
	br      *bufio.Reader
	batches chan *packetBatch
	free    chan *packetBatch
	stop    atomic.Bool
	err     error // set before batches is closed; nil at a clean EOF
}

func (ir *importReader) run() {
	defer close(ir.batches)
	b := <-ir.free
	for !ir.stop.Load() {
		p, err := ir.r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			ir.err = err
			break
		}
		start := len(b.data)
		b.data = append(b.data, p.Data...)
		p.Data = b.data[start:len(b.data):len(b.data)]
		p.Comments = append([]string(nil), p.Comments...)
		b.pkts = append(b.pkts, p)
		if len(b.pkts) == importBatch || len(b.data) >= 1<<20 || ir.br.Buffered() == 0 {
			ir.send(b)
			b = <-ir.free
			b.pkts, b.data = b.pkts[:0], b.data[:0]
		}
	}
	if len(b.pkts) > 0 {
		ir.send(b)
	}
}

// send hands b to the importer with the interfaces and sections read so
// far.
func (ir *importReader) send(b *packetBatch) {
	b.ifaces, b.sections = ir.r.Interfaces(), ir.r.Sections()
	ir.batches <- b
}

// importFile reads one capture file into a new session: all or nothing
// for a file (unless keepPartial), everything read for a stream.
func (a *app) importFile(ctx context.Context, db *store.DB, file, name string, keepPartial bool, compression store.Compression, cut *cutoff.Config) (store.Session, error) {
	in, err := a.openImport(file)
	if err != nil {
		return store.Session{}, err
	}
	defer in.close()
	// br is the buffered input, or the decompressor's buffered output.
	br, done, err := uncompressed(bufio.NewReaderSize(in.r, 1<<20))
	if err != nil {
		return store.Session{}, fmt.Errorf("import %s: %w", in.display, err)
	}
	defer done()
	// A record is at most a stored packet and its options: a hostile file
	// (a few KB of zstd can claim a 256 MiB record) is refused at its
	// length, not read into memory first.
	r, err := pcapio.NewReaderConfig(br, pcapio.ReaderConfig{MaxRecordLen: importMaxRecord})
	if err != nil {
		return store.Session{}, fmt.Errorf("import %s: %w", in.display, err)
	}
	ir := &importReader{r: r, br: br, batches: make(chan *packetBatch, 4), free: make(chan *packetBatch, 6)}
	for range 6 {
		ir.free <- &packetBatch{data: make([]byte, 0, 1<<20+store.MaxCapLen)}
	}
	go ir.run()
	defer func() {
		// Let the reader go: it stops at its next packet, or now if it
		// waits for a stream.
		ir.stop.Store(true)
		in.unblock()
		if !in.canUnblock {
			return // it ends with the process
		}
		for b := range ir.batches {
			ir.free <- b
		}
	}()

	imp := &importer{db: db, in: in, name: name, keepPartial: keepPartial, compression: compression}
	if cut != nil {
		cc := *cut
		cc.Warn = func(msg string) { a.log.Warn(msg) }
		cc.Flows = func(f *flow.Flow, iface int, final bool) {
			if final && f.Cut {
				imp.cuts = append(imp.cuts, cutoff.Record(f, iface))
			}
		}
		imp.eng = cutoff.New(cc)
		defer func() {
			printCutoff(a.stderr, cut, imp.eng.Stats())
		}()
	}
	if imp.name == "" {
		imp.name = filepath.Base(file)
		if file == "-" {
			imp.name = "stdin " + time.Now().Format("2006-01-02 15:04:05")
		}
	}
	bar := newProgress(a.stderr, "importing")
	defer bar.done()

	commitEvery := 500 * time.Millisecond
	if in.stream {
		commitEvery = 100 * time.Millisecond
	}
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	var (
		readErr  error
		stopErr  error // why the import ended early
		grace    <-chan time.Time
		signaled = ctx.Done()
	)
loop:
	for {
		select {
		case b, ok := <-ir.batches:
			if !ok {
				readErr = ir.err
				// The reader is done: what it read is the importer's.
				imp.ifaces, imp.sections = r.Interfaces(), r.Sections()
				break loop
			}
			imp.ifaces, imp.sections = b.ifaces, b.sections
			err := imp.add(b.pkts)
			ir.free <- b
			if err != nil {
				stopErr = err
				break loop
			}
			bar.update(imp.count, imp.bytes)
		case <-tick.C:
			if in.stream {
				if err := imp.flush(true); err != nil {
					stopErr = err
					break loop
				}
			}
		case <-signaled:
			signaled = nil
			if !in.stream {
				stopErr = errInterrupted
				break loop
			}
			grace = time.After(streamGrace)
		case <-grace:
			break loop
		}
	}
	if in.stream && errors.Is(readErr, os.ErrDeadlineExceeded) {
		readErr = nil // the grace period ended the read
	}
	return imp.finish(readErr, stopErr, keepPartial)
}

var errInterrupted = errors.New("interrupted")

// importer builds blocks from packets and writes them into one session,
// created with the first packet: by then a pcapng file has described its
// interfaces, so the session gets their link type and snaplen, and it
// starts at its first packet's time.
type importer struct {
	db          *store.DB
	in          importInput
	ifaces      []pcapio.Interface // as of the packets taken so far (packetBatch)
	sections    []pcapio.Section
	name        string
	keepPartial bool
	compression store.Compression
	sess        *store.Session
	w           *store.Writer
	end         func() // leaves bulk mode
	block       store.Block
	eng         *cutoff.Engine  // the --cutoff, nil without one
	cuts        []store.FlowCut // cut flows ended since the last commit

	knownIf       map[int]bool
	count, bytes  int64
	maxTS         int64
	lastCommit    time.Time
	stopWriteback func()
}

func (imp *importer) create(firstTS int64, hasPackets bool) error {
	if imp.sess != nil {
		return nil
	}
	// A file is all or nothing, even should this process be killed: its
	// session is "importing" until Publish (see store.SourceImporting).
	// A stream, or --keep-partial, keeps what was read.
	source := store.SourceImporting
	if imp.in.stream || imp.keepPartial {
		source = store.SourceImport
	}
	sess := &store.Session{Name: imp.name, Source: source, Origin: imp.in.origin, Started: time.Now()}
	if hasPackets {
		sess.Started = time.Unix(0, firstTS)
	}
	if ifaces := imp.ifaces; len(ifaces) > 0 {
		sess.LinkType, sess.Snaplen = ifaces[0].LinkType, ifaces[0].Snaplen
		sess.Interface, sess.Filter = ifaces[0].Name, ifaces[0].Filter
	}
	var notes []string
	for _, sec := range imp.sections {
		notes = append(notes, sec.Comments...)
	}
	sess.Notes = strings.Join(notes, "\n")
	if err := imp.db.CreateSession(sess); err != nil {
		return err
	}
	w, err := imp.db.NewWriter(sess.ID)
	if err == nil {
		if err = w.SetCompression(imp.compression); err != nil {
			w.Close()
		}
	}
	if err != nil {
		// Nothing stored: the session goes (or, should that fail too,
		// the next open removes it, as one a killed import left).
		imp.db.Delete(sess.ID)
		return err
	}
	imp.sess, imp.w = sess, w
	imp.end = func() {}
	if end, ok := imp.db.BeginBulk(); ok {
		imp.end = end
	}
	imp.stopWriteback = imp.db.StartWriteback()
	imp.knownIf = map[int]bool{}
	imp.block.Data = make([]byte, 0, 512<<10)
	imp.lastCommit = time.Now()
	return nil
}

func (imp *importer) addInterfaces() error {
	// pcapng may introduce interfaces at any point in the file.
	for i, it := range imp.ifaces {
		if imp.knownIf[i] {
			continue
		}
		imp.knownIf[i] = true
		err := imp.db.AddInterface(imp.sess.ID, store.Interface{ID: i, Name: it.Name, Description: it.Description, Filter: it.Filter, LinkType: it.LinkType, Snaplen: it.Snaplen})
		if err != nil {
			return err
		}
	}
	return nil
}

// importMaxRecord bounds a record's length: a packet as the store keeps
// it (store.MaxCapLen) with room for a pcapng block's options.
const importMaxRecord = 4 << 20

func (imp *importer) add(pkts []pcapio.Packet) error {
	for _, p := range pkts {
		if len(p.Data) > store.MaxCapLen {
			return fmt.Errorf("%w: packet %d: captured length %d exceeds %d", errBadInput, imp.count+1, len(p.Data), store.MaxCapLen)
		}
		if imp.sess == nil {
			if err := imp.create(p.Timestamp, true); err != nil {
				return err
			}
		}
		if !imp.knownIf[p.Interface] {
			if err := imp.addInterfaces(); err != nil {
				return err
			}
		}
		data := p.Data
		if imp.eng != nil {
			keep := imp.eng.Packet(p.LinkType, p.Interface, p.Timestamp, data, p.OrigLen)
			if keep < 0 {
				imp.count++
				continue // cut, not stored (--cutoff-keep none)
			}
			data = data[:keep]
		}
		b := &imp.block
		if b.Count > 0 && (b.LinkType != p.LinkType || b.Interface != p.Interface || len(b.Data) >= 256<<10) {
			if err := imp.flush(false); err != nil {
				return err
			}
		}
		if b.Count == 0 {
			b.Reset(p.LinkType)
			b.Interface = p.Interface
		}
		if len(p.Comments) > 0 {
			if err := imp.w.AddComments(imp.w.Next()+int64(b.Count), p.Comments); err != nil {
				return err
			}
		}
		b.Append(p.Timestamp, p.OrigLen, data)
		if imp.count == 0 {
			imp.maxTS = p.Timestamp
		}
		imp.maxTS = max(imp.maxTS, p.Timestamp)
		imp.count++
		imp.bytes += int64(len(data))
	}
	return nil
}

var errBadInput = errors.New("bad input")

// flush appends the open block and commits when it is time to (now, if
// force).
func (imp *importer) flush(force bool) error {
	if imp.sess == nil {
		return nil
	}
	if imp.block.Count > 0 {
		if err := imp.w.Append(&imp.block); err != nil {
			return err
		}
		imp.block.Reset(imp.block.LinkType)
	}
	if force || time.Since(imp.lastCommit) > 500*time.Millisecond {
		imp.lastCommit = time.Now()
		if len(imp.cuts) > 0 {
			if err := imp.w.AddFlowCuts(imp.cuts); err != nil {
				return err
			}
			imp.cuts = imp.cuts[:0]
		}
		if err := imp.w.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// finish ends the import. readErr is the file's damage, stopErr what
// stopped the import early (a signal, a write error).
func (imp *importer) finish(readErr, stopErr error, keepPartial bool) (store.Session, error) {
	display := imp.in.display
	if imp.sess == nil && stopErr == nil && readErr == nil {
		// No packet at all: an empty session, as the file is.
		if err := imp.create(0, false); err != nil {
			return store.Session{}, fmt.Errorf("import %s: %w", display, err)
		}
	}
	if imp.sess == nil {
		cause := errors.Join(stopErr, readErr)
		if errors.Is(cause, errInterrupted) {
			return store.Session{}, fmt.Errorf("import %s: interrupted, nothing stored", display)
		}
		return store.Session{}, fmt.Errorf("import %s: %w (nothing stored)", display, cause)
	}
	defer imp.stopWriteback()
	defer imp.end()
	defer imp.w.Close()
	id := imp.sess.ID
	cause := stopErr
	if cause == nil {
		cause = readErr
	}
	dbFailed := stopErr != nil && !errors.Is(stopErr, errInterrupted) && !errors.Is(stopErr, errBadInput)
	// A stream keeps what it read whatever stopped it; a file only with
	// --keep-partial.
	keep := cause == nil || imp.in.stream || keepPartial
	if keep && !dbFailed {
		if imp.eng != nil {
			imp.eng.Flush() // every flow ends: the cut ones go in the last commit
		}
		if err := imp.flush(true); err != nil {
			dbFailed, cause = true, err
		}
	}
	if dbFailed {
		imp.w.Rollback()
		keep = imp.in.stream || keepPartial
	}
	if !keep {
		imp.w.Rollback()
		if err := imp.db.Delete(id); err != nil {
			return store.Session{}, fmt.Errorf("import %s: %w (and removing the partial session %d: %v)", display, describe(cause), id, err)
		}
		if errors.Is(cause, errInterrupted) {
			return store.Session{}, fmt.Errorf("import %s: interrupted, nothing stored (--keep-partial keeps what was read)", display)
		}
		return store.Session{}, fmt.Errorf("import %s: %w (nothing stored; --keep-partial keeps the %d packets before it)", display, describe(cause), imp.count)
	}
	stored := imp.w.Next() - 1
	status := store.StatusComplete
	if cause != nil && !(imp.in.stream && errors.Is(cause, errInterrupted)) {
		status = store.StatusInterrupted
	}
	ended := time.Unix(0, imp.maxTS)
	if stored == 0 {
		ended = imp.sess.Started
	}
	if imp.sess.Source == store.SourceImporting {
		if err := imp.db.Publish(id); err != nil {
			return store.Session{}, fmt.Errorf("import %s: %w", display, err)
		}
	}
	if err := imp.db.Finish(id, status, ended, 0, 0, 0); err != nil {
		return store.Session{}, fmt.Errorf("import %s: %w", display, err)
	}
	out, err := imp.db.Session(id)
	if err != nil {
		return store.Session{}, err
	}
	if status == store.StatusInterrupted && keepPartial && !imp.in.stream {
		// What the user asked for: exit ExitPartial, not a failure.
		return out, &partialError{fmt.Errorf("import %s: %w: kept the %d packets before it as interrupted session %d (--keep-partial)", display, describe(cause), stored, id)}
	}
	if status == store.StatusInterrupted {
		return out, fmt.Errorf("import %s: %w (kept %d packets as interrupted session %d)", display, describe(cause), stored, id)
	}
	return out, nil
}

// describe turns the store's disk-full error into the words a user
// expects.
func describe(err error) error {
	if errors.Is(err, store.ErrDiskFull) {
		return store.ErrDiskFull
	}
	return err
}
