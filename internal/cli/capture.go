package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/recorder"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

type captureFlags struct {
	iface     string
	filter    string
	db        string
	count     int64
	duration  float64
	snaplen   int
	promisc   bool
	buffer    string
	name      string
	user      string
	userSet   bool // --user given, perhaps empty
	direction string
	write     string // -w: a capture file written too
}

func (a *app) captureCmd() *cobra.Command {
	var f captureFlags
	cmd := &cobra.Command{
		Use:   "capture -i IFACE [-f FILTER | FILTER...] [flags]",
		Short: "Capture packets from an interface into a session",
		Example: `  packetrecorder capture -i eth0 -f 'tcp port 443' -c 1000
  packetrecorder capture -i lo -t 10 -d lab.db --name smoke-test`,
		RunE: func(cmd *cobra.Command, args []string) error {
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
			return a.capture(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.iface, "interface", "i", "", "interface to capture on (see list-interfaces)")
	fl.StringVarP(&f.filter, "filter", "f", "", "filter in tcpdump's language, e.g. 'tcp port 80'")
	addDatabaseFlag(cmd, &f.db)
	fl.Int64VarP(&f.count, "count", "c", 0, "stop after this many packets (0 = no limit)")
	fl.Float64VarP(&f.duration, "duration", "t", 0, "stop after this many seconds (0 = no limit)")
	fl.IntVarP(&f.snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes kept per packet (1-262144; 0 for the largest, as tcpdump -s 0)")
	fl.BoolVar(&f.promisc, "promisc", true, "put the interface in promiscuous mode")
	fl.StringVarP(&f.buffer, "buffer-size", "b", "10MB", "kernel ring size (suffixes KB, MB, GB)")
	fl.StringVar(&f.name, "name", "", "session name (default: interface and start time)")
	fl.StringVarP(&f.user, "user", "Z", "", "after opening the socket and the database, run as this user (as tcpdump -Z; default under sudo: the user who ran sudo)")
	fl.StringVarP(&f.write, "write", "w", "", "also write the packets to this capture file (pcapng for a .pcapng name, else pcap; - for standard output), as tcpdump -w")
	fl.StringVarP(&f.direction, "direction", "Q", "inout", "in (received), out (sent by this host) or inout, as tcpdump -Q")
	cmd.MarkFlagRequired("interface")
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
		return fmt.Errorf("invalid snaplen %d: must be 1 to %d (0 for the largest)", f.snaplen, capture.MaxSnaplen)
	}
	if f.snaplen == 0 {
		f.snaplen = capture.MaxSnaplen // tcpdump's -s 0
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
	if buf < 64<<10 || buf > 4<<30 {
		return fmt.Errorf("invalid buffer size %s: must be 64KB to 4GB", f.buffer)
	}

	linkType, err := capture.LinkTypeOf(f.iface)
	if err != nil {
		return fmt.Errorf("capture on %s: %w", f.iface, err)
	}
	// On "any" the filter is compiled for the cooked headers, as for
	// stored packets; the capture moves it into the kernel when it can.
	// libpcap keeps at least the cooked header and a byte there.
	live := f.iface != capture.AnyDevice
	if !live && f.snaplen < 21 {
		f.snaplen = 21
	}
	prog, err := filter.Compile(f.filter, filter.Options{LinkType: linkType, Snaplen: uint32(f.snaplen), Live: live, Netmask: filter.InterfaceNetmask(f.iface)})
	if err != nil {
		return err
	}

	db, err := store.Open(f.db, store.Options{Create: true})
	if err != nil {
		return err
	}
	defer db.Close()

	ring, err := capture.Open(capture.Config{
		Interface:  f.iface,
		Snaplen:    f.snaplen,
		Promisc:    f.promisc,
		BufferSize: int(buf),
		Filter:     prog.KernelInstructions(),
		Match:      prog.Match,
		Direction:  f.direction,
	})
	if err != nil {
		return fmt.Errorf("capture on %s: %w", f.iface, err)
	}
	defer ring.Close()

	sess := &store.Session{
		Name:       f.name,
		Interface:  f.iface,
		Filter:     f.filter,
		LinkType:   linkType,
		Snaplen:    uint32(f.snaplen),
		Promisc:    f.promisc && live, // "any" has no promiscuous mode
		BufferSize: buf,
		Netmask:    filter.NetmaskBits(filter.InterfaceNetmask(f.iface)),
	}
	if sess.Name == "" {
		sess.Name = fmt.Sprintf("%s %s", f.iface, time.Now().Format("2006-01-02 15:04:05"))
	}
	if err := db.CreateSession(sess); err != nil {
		return err
	}
	w, err := db.NewWriter(sess.ID)
	if err != nil {
		return err
	}
	defer w.Close()
	// Space to finalize the session in if the disk fills up.
	if err := db.ReserveSpace(); err != nil {
		return err
	}
	defer db.ReleaseReserve()
	var sink recorder.Sink = w
	var tee *fileTee
	if f.write != "" {
		if tee, err = newFileTee(w, f.write, a.stdout, linkType, f.snaplen, f.iface, f.filter); err != nil {
			return err
		}
		defer tee.abandon() // after finish, nothing left to remove
		sink = tee
	}
	if f.userSet {
		files := []string{f.db, f.db + "-wal", f.db + "-shm", f.db + "-journal", store.ReserveFile(f.db)}
		if tee != nil && tee.tempName() != "" {
			files = append(files, tee.tempName())
		}
		if err := dropPrivileges(user, files...); err != nil {
			return err
		}
	}

	// As tcpdump's "listening on" line and statistics, on stderr: stdout
	// stays free for what a user pipes on.
	fmt.Fprintf(a.stderr, "session %d: capturing on %s, link-type %s, snapshot length %d bytes, into %s\n",
		sess.ID, f.iface, filter.LinkTypeName(linkType), f.snaplen, f.db)

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
	if end, ok := db.BeginBulk(); ok {
		defer end()
	}
	cfg := recorder.Config{Source: ring, Writer: sink, Count: f.count, Logger: a.log, Snaplen: f.snaplen}
	if isTerminal(a.stderr) {
		start := time.Now()
		cfg.Progress = func(p recorder.Progress) {
			secs := time.Since(start).Seconds()
			fmt.Fprintf(a.stderr, "\r%d packets, %s, %.0f pkt/s, %d dropped   ", p.Stored, humanBytes(p.Bytes), float64(p.Stored)/secs, p.Dropped)
		}
	}
	res, runErr := recorder.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
	ring.Close()
	st, _ := ring.Stats()
	status := store.StatusComplete
	if runErr != nil {
		status = store.StatusInterrupted
	}
	if errors.Is(runErr, store.ErrDiskFull) {
		db.ReleaseReserve()
	}
	if err := db.Finish(sess.ID, status, time.Now(), int64(st.Received), int64(st.Dropped), res.AppDropped); err != nil && runErr == nil {
		runErr = err
	}
	db.Checkpoint(true) // in WAL mode, leave a small WAL behind; best effort
	if tee != nil {
		if err := tee.finish(); err != nil && runErr == nil {
			runErr = err
		}
	}
	fmt.Fprintf(a.stderr, "%s stored (%s)\n%s received by filter\n%s dropped by kernel\n",
		packets(res.Stored), humanBytes(res.Bytes), packets(int64(st.Received)), packets(int64(st.Dropped)))
	if res.AppDropped > 0 {
		fmt.Fprintf(a.stderr, "%s not stored (write error)\n", packets(res.AppDropped))
	}
	if runErr != nil {
		if errors.Is(runErr, store.ErrDiskFull) {
			return fmt.Errorf("session %d: disk full: capture stopped, %d packets kept", sess.ID, res.Stored)
		}
		return fmt.Errorf("session %d: %w", sess.ID, runErr)
	}
	return nil
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
