package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/cutoff"
	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

type captureFlags struct {
	iface                         string   // the first -i
	ifaces                        []string // every -i
	filter                        string
	db                            string
	count                         int64
	duration                      float64
	snaplen                       int
	promisc                       bool
	buffer                        string
	name                          string
	user                          string
	userSet                       bool // --user given, perhaps empty
	direction                     string
	write                         string // -w: a capture file written too
	fileOnly                      bool   // -w without -d: the file alone, as tcpdump -w
	noPromisc                     bool   // -p
	filterFile                    string // -F
	listIfaces                    bool   // -D
	rotSize, rotSeconds, rotFiles string // -C, -G, -W
	rot                           rotation
	compress                      string // --compression: zstd, s2 or none
	cutSize, cutKeep              string // --cutoff, --cutoff-keep
}

func (a *app) captureCmd() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture -i IFACE [-f FILTER | FILTER...] [flags]",
		Short: "Capture packets from an interface into a session",
		Example: `  packetrecorder capture -i eth0 -f 'tcp port 443' -c 1000
  packetrecorder capture -i lo -t 10 -d lab.db --name smoke-test`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.listIfaces {
				return a.listInterfacesTcpdump()
			}
			if f.noPromisc {
				if cmd.Flags().Changed("promisc") && f.promisc {
					return errors.New("-p and --promisc=true disagree: give one")
				}
				f.promisc = false
			}
			var err error
			if f.rot, err = parseRotation(f.rotSize, f.rotSeconds, f.rotFiles, f.write); err != nil {
				return err
			}
			if args, err = useFilterFile(f.filterFile, &f.filter, args, func(s string) { fmt.Fprintln(a.stderr, s) }); err != nil {
				return err
			}
			// As with tcpdump, the filter may also follow the flags.
			if len(args) > 0 {
				if f.filter != "" {
					return errors.New("give the filter either with -f or after the flags, not both")
				}
				f.filter = strings.Join(args, " ")
			}
			f.userSet = cmd.Flags().Changed("user")
			if !f.userSet && os.Geteuid() == 0 {
				// Run through sudo, hand the database to the user who ran
				// it, as if --user $SUDO_USER: they read it afterwards.
				if u := os.Getenv("SUDO_USER"); u != "" && u != "root" {
					f.user, f.userSet = u, true
				}
			}
			f.fileOnly = f.write != "" && !cmd.Flags().Changed("database")
			return a.capture(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.ifaces, "interface", "i", nil, "interface to capture on (see list-interfaces); several -i record them into one session, each packet with its interface")
	fl.StringVarP(&f.filter, "filter", "f", "", "filter in tcpdump's language, e.g. 'tcp port 80'")
	addDatabaseFlag(cmd, &f.db)
	addMaxPacketsFlag(cmd, &f.count, 0, "stop after this many packets (0 = no limit), as tcpdump -c")
	fl.Float64VarP(&f.duration, "duration", "t", 0, "stop after this many seconds (0 = no limit)")
	fl.IntVarP(&f.snaplen, "snaplen", "s", capture.DefaultSnaplen, fmt.Sprintf("bytes kept per packet (%d-%d; 0 for the largest, as tcpdump -s 0)", capture.MinSnaplen, capture.MaxSnaplen))
	fl.BoolVar(&f.promisc, "promisc", true, "put the interface in promiscuous mode")
	fl.StringVarP(&f.buffer, "buffer-size", "b", fmt.Sprintf("%dMB", capture.DefaultBufferSize>>20), "kernel ring size (suffixes KB, MB, GB)")
	fl.StringVar(&f.name, "name", "", "session name (default: interface and start time)")
	fl.StringVarP(&f.user, "user", "Z", "", "after opening the socket and the database, run as this user (as tcpdump -Z; default under sudo: the user who ran sudo)")
	fl.StringVarP(&f.write, "write", "w", "", "also write the packets to this capture file (pcapng for a .pcapng name, else pcap; - for standard output), as tcpdump -w")
	fl.StringVarP(&f.direction, "direction", "Q", "inout", "in (received), out (sent by this host) or inout, as tcpdump -Q")
	fl.StringVar(&f.compress, "compression", "zstd", "store blocks compressed where it pays: zstd, s2 (about half zstd's CPU, nearly its saving), or none")
	addCutoffFlags(cmd, &f.cutSize, &f.cutKeep)
	fl.BoolVarP(&f.noPromisc, "no-promiscuous-mode", "p", false, "do not put the interface in promiscuous mode, as tcpdump -p (--promisc=false)")
	fl.StringVarP(&f.filterFile, "filter-file", "F", "", "take the filter from this file ('#' starts a comment), as tcpdump -F; an expression after the flags is then ignored")
	fl.BoolVarP(&f.listIfaces, "list-interfaces", "D", false, "list the interfaces to capture on as tcpdump -D does, and exit")
	fl.StringVarP(&f.rotSize, "file-size", "C", "", "with -w: begin a new file (name1, name2, ...) once one is larger than this many million bytes, as tcpdump -C")
	fl.StringVarP(&f.rotSeconds, "rotate-seconds", "G", "", "with -w: begin a new file every this many seconds, the -w name through strftime (e.g. trace-%H%M%S.pcap), as tcpdump -G")
	fl.StringVarP(&f.rotFiles, "file-count", "W", "", "with -C: a ring of this many files (name0 ...), the oldest overwritten; with -G alone: stop after this many files, as tcpdump -W (a database takes every packet the kernel accepted until then)")
	// -i is required but for -D: capture() says so when it is missing.
	return cmd
}

func (a *app) capture(ctx context.Context, f captureFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// From here on SIGINT, SIGTERM and SIGHUP stop the capture cleanly, including
	// while it is still being set up.
	// SIGHUP too, as tcpdump: a closed terminal or a supervisor's hang-up
	// ends the capture cleanly instead of killing it.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	switch {
	case f.count < 0:
		return fmt.Errorf("invalid count %d: must be 0 (no limit) or more", f.count)
	case f.duration < 0:
		return fmt.Errorf("invalid duration %g: must be 0 (no limit) or more seconds", f.duration)
	case f.direction != "in" && f.direction != "out" && f.direction != "inout":
		return fmt.Errorf("invalid direction %q: use in, out or inout (as tcpdump -Q)", f.direction)
	case f.snaplen < 0 || f.snaplen > capture.MaxSnaplen:
		return fmt.Errorf("invalid snaplen %d: must be %d to %d (0 for the largest)", f.snaplen, capture.MinSnaplen, capture.MaxSnaplen)
	}
	if f.snaplen == 0 {
		f.snaplen = capture.MaxSnaplen // tcpdump's -s 0
	}
	compression, err := store.ParseCompression(f.compress)
	if err != nil {
		return fmt.Errorf("invalid --compression: %w", err)
	}
	cut, err := cutoff.FromFlags(f.cutSize, f.cutKeep)
	if err != nil {
		return err
	}
	if !f.fileOnly {
		// A store's segments are written by its daemon alone.
		if err := notInAStore("capture: -d", f.db); err != nil {
			return err
		}
	}
	if f.write != "" && f.write != "-" {
		// Renamed into place at the end, the file would replace what it names.
		if err := notInAStore("capture: -w", f.write); err != nil {
			return err
		}
		if err := notTheDatabase("capture: -w", f.write, f.db); !f.fileOnly && err != nil {
			return err
		}
	}
	var user runAs
	if f.userSet {
		var err error
		if user, err = lookupUser(f.user); err != nil {
			return err
		}
	}
	buf, err := daemon.ParseSize(f.buffer) // the same sizes as the daemon's config
	if err != nil {
		return err
	}
	if buf < capture.MinBufferSize || buf > capture.MaxBufferSize {
		return fmt.Errorf("invalid buffer size %s: must be %dKB to %dGB", f.buffer, capture.MinBufferSize>>10, capture.MaxBufferSize>>30)
	}

	if len(f.ifaces) == 0 {
		return errors.New(`required flag(s) "interface" not set`)
	}
	f.iface = f.ifaces[0]
	seenIf := map[string]bool{}
	for _, name := range f.ifaces {
		if seenIf[name] {
			return fmt.Errorf("-i %s is given twice", name)
		}
		seenIf[name] = true
		if name == capture.AnyDevice && len(f.ifaces) > 1 {
			return errors.New(`"any" already captures every interface: give it alone`)
		}
	}
	// Each interface's filter is compiled for its own link type and
	// netmask (see capture.Live).
	live := f.iface != capture.AnyDevice
	type input struct {
		*capture.Live
		prog *filter.Program
	}
	var inputs []input
	for _, name := range f.ifaces {
		setup, err := capture.NewLive(capture.LiveConfig{Interface: name, Snaplen: f.snaplen, Promisc: f.promisc, BufferSize: int(buf), Direction: f.direction})
		if err != nil {
			return fmt.Errorf("capture on %s: %w", name, err)
		}
		prog, err := setup.Compile(f.filter)
		if err != nil {
			if len(f.ifaces) > 1 {
				return fmt.Errorf("filter for %s: %w", name, err)
			}
			return err
		}
		inputs = append(inputs, input{setup, prog})
	}
	f.snaplen = inputs[0].Snaplen // on "any", at least the cooked header and a byte
	linkType := inputs[0].LinkType

	var db *store.DB
	started := false // the recorder runs: from then on the database stays
	var ownSession int64
	if !f.fileOnly {
		_, statErr := os.Lstat(f.db)
		created := errors.Is(statErr, os.ErrNotExist)
		if db, err = store.Open(f.db, store.Options{Create: true}); err != nil {
			if created {
				removeDatabase(f.db)
			}
			return err
		}
		defer func() {
			// A capture that never began (no permission, no such
			// interface) leaves nothing behind, unless another process
			// has begun a session in the new database meanwhile.
			remove := false
			if created && !started {
				list, err := db.Sessions()
				remove = err == nil && (len(list) == 0 || len(list) == 1 && list[0].ID == ownSession)
			}
			db.Close()
			if remove {
				removeDatabase(f.db)
			}
		}()
	}

	var rings []capture.Source
	for _, in := range inputs {
		opened, err := in.Open(in.prog)
		if err != nil {
			for _, r := range rings {
				r.Close()
			}
			return fmt.Errorf("capture on %s: %w", in.Interface, err)
		}
		rings = append(rings, opened[0])
	}
	var ring capture.Source = rings[0]
	if len(rings) > 1 {
		ring = capture.NewMulti(rings...)
	}
	defer ring.Close()

	sess := &store.Session{
		Name:       f.name,
		Interface:  strings.Join(f.ifaces, ","),
		Filter:     f.filter,
		LinkType:   linkType,
		Snaplen:    uint32(f.snaplen),
		Promisc:    f.promisc && live, // "any" has no promiscuous mode
		BufferSize: buf,
		Netmask:    filter.NetmaskBits(inputs[0].Netmask()),
	}
	if sess.Name == "" {
		sess.Name = fmt.Sprintf("%s %s", strings.Join(f.ifaces, ","), time.Now().Format("2006-01-02 15:04:05"))
	}
	var ifaces []store.Interface // by the id each packet's block carries
	for i, in := range inputs {
		ifaces = append(ifaces, store.Interface{ID: i, Name: in.Interface, Filter: f.filter, LinkType: in.LinkType, Snaplen: uint32(f.snaplen)})
	}
	// Without a database (-w alone), packets go to the file only.
	var sink recorder.Sink = &discard{dir: filepath.Dir(f.write)}
	if db != nil {
		if err := db.CreateSession(sess); err != nil {
			return err
		}
		ownSession = sess.ID
		if len(ifaces) > 1 {
			for _, it := range ifaces {
				if err := db.AddInterface(sess.ID, it); err != nil {
					return err
				}
			}
		}
		w, err := db.NewWriter(sess.ID)
		if err != nil {
			return err
		}
		defer w.Close()
		if err := w.SetCompression(compression); err != nil {
			return err
		}
		// Space to finalize the session in if the disk fills up.
		if err := db.ReserveSpace(); err != nil {
			return err
		}
		defer db.ReleaseReserve()
		sink = w
	}
	var tee *fileTee
	if f.write != "" {
		if tee, err = newFileTee(sink, f.write, a.stdout, ifaces, f.snaplen); err != nil {
			return err
		}
		tee.keepGoing, tee.notice = db != nil, a.stderr
		if f.rot.on() {
			if err := tee.setRotation(f.rot, time.Now()); err != nil {
				tee.abandon()
				return err
			}
		}
		if f.write == "-" {
			// A write to a closed pipe fails with EPIPE instead of
			// killing the process: the capture ends (or goes on into the
			// database) with its summary, as tcpdump's SIGPIPE handler.
			pipe := make(chan os.Signal, 1)
			signal.Notify(pipe, syscall.SIGPIPE)
			defer signal.Stop(pipe)
		}
		defer tee.abandon() // after finish, nothing left to remove
		sink = tee
	}
	if f.userSet {
		var files []string
		if db != nil {
			files = []string{f.db, f.db + "-wal", f.db + "-shm", f.db + "-journal", store.ReserveFile(f.db)}
		}
		if tee != nil && tee.tempName() != "" {
			files = append(files, tee.tempName())
		}
		if err := dropPrivileges(user, files...); err != nil {
			return err
		}
	}

	// As tcpdump's "listening on" line and statistics, on stderr: stdout
	// stays free for what a user pipes on.
	if db != nil {
		fmt.Fprintf(a.stderr, "session %d: capturing on %s, link-type %s, snapshot length %d bytes, into %s\n",
			sess.ID, strings.Join(f.ifaces, ", "), filter.LinkTypeName(linkType), f.snaplen, f.db)
	} else {
		fmt.Fprintf(a.stderr, "capturing on %s, link-type %s, snapshot length %d bytes, into %s (no database)\n",
			strings.Join(f.ifaces, ", "), filter.LinkTypeName(linkType), f.snaplen, f.write)
	}

	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(f.duration*float64(time.Second)))
		defer cancel()
	}
	// Alone with the database, write it with a rollback journal: packets
	// then go into the file once instead of into the WAL and again at each
	// checkpoint. A reader that opens the database meanwhile switches it to
	// WAL in the pause the writer leaves after each commit (SQLite moves
	// this connection along), so queries never wait for the capture.
	if db != nil {
		if end, ok := db.BeginBulk(); ok {
			defer end()
		}
	}
	if tee != nil && db != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		tee.onLimit = cancel
	}
	cfg := recorder.Config{Source: ring, Writer: sink, Count: f.count, Logger: a.log, Snaplen: f.snaplen, Cutoff: cut}
	if isTerminal(a.stderr) {
		start := time.Now()
		cfg.Progress = func(p recorder.Progress) {
			secs := time.Since(start).Seconds()
			fmt.Fprintf(a.stderr, "\r%d packets, %s, %.0f pkt/s, %d dropped   ", p.Stored, humanBytes(p.Bytes), float64(p.Stored)/secs, p.Dropped)
		}
	}
	started = true
	res, runErr := recorder.Run(ctx, cfg)
	if errors.Is(runErr, errFileLimit) || tee != nil && tee.limitReached {
		// -G with -W: every file is written, a normal end (tcpdump's words).
		fmt.Fprintf(a.stderr, "Maximum file limit reached: %d\n", f.rot.files)
		runErr = nil
	}
	if cfg.Progress != nil {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	ring.Close()
	st, _ := ring.Stats()
	status := store.StatusComplete
	if runErr != nil {
		status = store.StatusInterrupted
	}
	if db != nil {
		if errors.Is(runErr, store.ErrDiskFull) {
			db.ReleaseReserve()
		}
		if err := db.Finish(sess.ID, status, time.Now(), int64(st.Received), int64(st.Dropped), res.AppDropped); err != nil && runErr == nil {
			runErr = err
		}
		db.Checkpoint(true) // in WAL mode, leave a small WAL behind; best effort
	}
	if tee != nil {
		if err := tee.finish(); err != nil && runErr == nil {
			runErr = err
		}
	}
	pipeClosed := db == nil && errors.Is(runErr, errOutputClosed)
	stored, notStored := "stored", "not stored (write error)"
	if db == nil {
		stored, notStored = "written", "not written (write error)"
		if pipeClosed {
			notStored = "not written: " + errOutputClosed.Error()
		}
	}
	fmt.Fprintf(a.stderr, "%s %s (%s)\n%s received by filter\n%s dropped by kernel\n",
		packets(res.Stored), stored, humanBytes(res.Bytes), packets(int64(st.Received)), packets(int64(st.Dropped)))
	if res.AppDropped > 0 {
		fmt.Fprintf(a.stderr, "%s %s\n", packets(res.AppDropped), notStored)
	}
	if cut != nil {
		printCutoff(a.stderr, cut, res.Cutoff)
	}
	printCompressionSkipped(a.stderr, res.CompressionSkipped)
	if pipeClosed {
		// As tcpdump -w - | head: the reader had what it wanted.
		fmt.Fprintf(a.stderr, "capture stopped: %v\n", errOutputClosed)
		return nil
	}
	if runErr != nil {
		if db == nil {
			return fmt.Errorf("capture into %s: %w", f.write, runErr)
		}
		if errors.Is(runErr, store.ErrDiskFull) {
			return fmt.Errorf("session %d: disk full: capture stopped, %d packets kept", sess.ID, res.Stored)
		}
		return fmt.Errorf("session %d: %w", sess.ID, runErr)
	}
	return nil
}

// printCompressionSkipped says how many blocks went into the store raw
// because the writer fell behind (the recorder skips compression rather
// than lose a packet); nothing when none did.
func printCompressionSkipped(w io.Writer, n int64) {
	if n > 0 {
		fmt.Fprintf(w, "%d %s stored uncompressed: the writer fell behind (compression skipped to keep up)\n", n, plural(n, "block"))
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// packets is "1 packet" or "N packets".
func packets(n int64) string {
	if n == 1 {
		return "1 packet"
	}
	return fmt.Sprintf("%d packets", n)
}

// discard is the sink of a capture without a database (-w alone): a
// transaction is kept only until the file takes it.
type discard struct {
	dir  string
	inTx bool
}

func (d *discard) Append(*store.Block) error          { d.inTx = true; return nil }
func (d *discard) Commit() error                      { d.inTx = false; return nil }
func (d *discard) Rollback() error                    { d.inTx = false; return nil }
func (d *discard) InTx() bool                         { return d.inTx }
func (d *discard) Dir() string                        { return d.dir }
func (d *discard) SetBusyTimeout(time.Duration) error { return nil }

// removeDatabase removes a database this process created and the files
// SQLite and the store keep beside it.
func removeDatabase(path string) {
	for _, side := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + side)
	}
	os.Remove(store.ReserveFile(path))
}
