package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/replay"
	"github.com/packetrecorderd/packetrecorderd/internal/rewrite"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

type replaySummary struct {
	Packets       int64   `json:"packets"` // frames sent (each segment of a split frame counts)
	Bytes         int64   `json:"bytes"`
	DurationSec   float64 `json:"duration_s"`
	PPS           float64 `json:"pps"`
	Mbps          float64 `json:"mbps"`
	Skipped       int64   `json:"skipped_oversize"`
	Unfit         int64   `json:"skipped_unfit"`      // of another link type than the interface's, or shorter than its link header
	Split         int64   `json:"split_oversize"`     // --segment: frames over the MTU sent as segments or fragments
	Truncated     int64   `json:"truncated_oversize"` // --mtu-trunc: frames cut to the MTU
	Rewritten     int64   `json:"rewritten"`          // frames changed by --srcmac ... --fixcsum
	Patched       int64   `json:"checksums_patched"`  // of those, transport checksums updated for the change only: the frame lacks the rest of the segment
	ServerPackets int64   `json:"server_packets"`     // with -I: frames sent on the server's interface (included in packets)
	Backward      int64   `json:"backward_jumps"`     // packets whose timestamp went back: played without a gap
	Retries       uint64  `json:"send_retries"`
	ErrP50us      float64 `json:"schedule_error_p50_us"`
	ErrP99us      float64 `json:"schedule_error_p99_us"`
	ErrMaxus      float64 `json:"schedule_error_max_us"`
	DriftUs       float64 `json:"drift_us"`
	Interrupted   bool    `json:"interrupted"`
	Error         string  `json:"error,omitempty"` // why the replay stopped early
}

// replayFlags are the flags that change frames or where they go.
type replayFlags struct {
	segment, mtuTrunc, qdisc bool
	server                   string // -I
	fixCsum                  bool
	srcMAC, dstMAC           string
	srcIP, dstIP, portMap    string
}

// rewriteConfig checks and reads the rewriting flags.
func (f replayFlags) rewriteConfig(cmd *cobra.Command) (rewrite.Config, error) {
	cfg := rewrite.Config{FixChecksums: f.fixCsum}
	for _, err := range []error{
		parseFlag(cmd, "srcmac", f.srcMAC, rewrite.ParseMAC, &cfg.SrcMAC),
		parseFlag(cmd, "dstmac", f.dstMAC, rewrite.ParseMAC, &cfg.DstMAC),
		parseFlag(cmd, "srcip", f.srcIP, rewrite.ParseIPMaps, &cfg.SrcIP),
		parseFlag(cmd, "dstip", f.dstIP, rewrite.ParseIPMaps, &cfg.DstIP),
		parseFlag(cmd, "portmap", f.portMap, rewrite.ParsePortMap, &cfg.Ports),
	} {
		if err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// parseFlag sets *dst to what parse reads in value when the flag name was
// given; a value parse refuses is an error that names the flag.
func parseFlag[T any](cmd *cobra.Command, name, value string, parse func(string) (T, error), dst *T) error {
	if !cmd.Flags().Changed(name) {
		return nil
	}
	v, err := parse(value)
	if err != nil {
		return fmt.Errorf("--%s: %w", name, err)
	}
	*dst = v
	return nil
}

// replayOptions are replay's flags.
type replayOptions struct {
	sel         selection
	iface       string
	speed       float64
	pps, mbps   float64
	loops       int64
	count       int64
	displayOnly bool
	view        tcpdumpView // --display-only's -e, -q, -x, -A, -#
	asJSON      bool
	rf          replayFlags
}

func (a *app) replayCmd() *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay (-s ID | -d STORE [--source-interface IF]) (-i IFACE [-I IFACE] | --display-only) [flags]",
		Short: "Send a session's packets onto an interface with their original timing",
		Example: `  packetrecorder replay -s 1 -i veth0
  packetrecorder replay -s 1 -i veth0 --speed 0   # as fast as possible
  packetrecorder replay -s 1 --display-only   # show the schedule, send nothing
  packetrecorder replay -s 1 -i eth1 --segment --dstmac 02:00:00:00:00:01
  packetrecorder replay -s 1 -i eth1 -I eth2  # clients' packets on eth1, servers' on eth2
  packetrecorder replay -s 1 -i eth1 --srcip 10.0.0.0/8:192.168.0.0/16 --portmap 80:8080
  packetrecorder replay -r trace.pcapng -i veth0 tcp port 443   # a file, as tcpreplay; the filter as arguments`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.sel.filterArgs(args); err != nil {
				return err
			}
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			return a.replay(cmd.Context(), o, cfg)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (o *replayOptions) addFlags(cmd *cobra.Command) {
	o.sel.addFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.iface, "interface", "i", "", "interface to send on (required unless --display-only); with -I, the clients' packets")
	f.StringVarP(&o.rf.server, "server-interface", "I", "", "send the servers' packets on this interface and the clients' on -i (client: the sender of a flow's SYN, else the higher port)")
	f.Float64Var(&o.speed, "speed", 1, "timing multiplier: 2 = twice as fast, 0 = as fast as possible")
	f.Float64Var(&o.pps, "pps", 0, "send at this many packets per second instead of the recorded timing")
	f.Float64Var(&o.mbps, "mbps", 0, "send at this many megabits per second instead of the recorded timing")
	f.Int64Var(&o.loops, "loop", 1, "play the packets this many times (0 = until interrupted)")
	addMaxPacketsFlag(cmd, &o.count, 0, "stop after this many packets, all loops together (0 = no limit), as tcpdump -c")
	f.BoolVar(&o.displayOnly, "display-only", false, "print each packet with its scheduled time; send nothing")
	addTcpdumpViewFlags(cmd, &o.view)
	f.BoolVar(&o.asJSON, "json", false, "print the summary as one JSON object")
	f.BoolVar(&o.rf.segment, "segment", false, "split IP packets over the MTU (GRO/TSO frames) as TSO would: TCP into segments, others into fragments, spread over the gap to the next frame")
	f.BoolVar(&o.rf.mtuTrunc, "mtu-trunc", false, "truncate IP packets over the MTU to the MTU (as tcpreplay), fixing lengths and checksums")
	f.BoolVar(&o.rf.qdisc, "qdisc", false, "send through the interface's qdisc (tc, netem and tcpdump -Q out apply) instead of around it, at some cost in timing precision")
	f.BoolVar(&o.rf.fixCsum, "fixcsum", false, "recompute the IPv4, TCP, UDP, ICMP and ICMPv6 checksums of every packet")
	f.StringVar(&o.rf.srcMAC, "srcmac", "", "set the Ethernet source address of every packet")
	f.StringVar(&o.rf.dstMAC, "dstmac", "", "set the Ethernet destination address of every packet")
	f.StringVar(&o.rf.srcIP, "srcip", "", "map source addresses, CIDR to CIDR keeping the host bits: 10.0.0.0/8:192.168.0.0/16[,...] (IPv6 alike)")
	f.StringVar(&o.rf.dstIP, "dstip", "", "map destination addresses, as --srcip")
	f.StringVar(&o.rf.portMap, "portmap", "", "map TCP and UDP ports, source and destination: 80:8080[,443:8443...]")
}

// config checks the flags and turns them into the replay engine's.
func (o *replayOptions) config(cmd *cobra.Command) (replay.Config, error) {
	rf := o.rf
	switch {
	case cmd.Flags().Changed("speed") && (o.pps > 0 || o.mbps > 0):
		return replay.Config{}, errors.New("give --speed or a rate (--pps, --mbps), not both")
	case o.speed < 0:
		return replay.Config{}, fmt.Errorf("invalid speed %g: must be 0 (as fast as possible) or more", o.speed)
	case o.pps < 0 || o.mbps < 0:
		return replay.Config{}, errors.New("invalid rate: --pps and --mbps must be positive")
	case o.pps > 0 && o.mbps > 0:
		return replay.Config{}, errors.New("give --pps or --mbps, not both")
	case o.count < 0:
		return replay.Config{}, fmt.Errorf("invalid count %d: must be 0 (all) or more", o.count)
	case o.loops < 0:
		return replay.Config{}, fmt.Errorf("invalid loop count %d: must be 0 (until interrupted) or more", o.loops)
	case rf.segment && rf.mtuTrunc:
		return replay.Config{}, errors.New("give --segment or --mtu-trunc, not both")
	case o.displayOnly && (rf.segment || rf.mtuTrunc || rf.qdisc || rf.server != ""):
		return replay.Config{}, errors.New("--display-only sends nothing: --segment, --mtu-trunc, --qdisc and -I do not apply")
	case !o.displayOnly && o.iface == "":
		// Never onto the recorded interface unasked: it may be a
		// production link.
		return replay.Config{}, errors.New("replay sends only onto the interface -i names, as tcpreplay -i: give -i IFACE (or --display-only to send nothing)")
	}
	rcfg, err := rf.rewriteConfig(cmd)
	if err != nil {
		return replay.Config{}, err
	}
	pace := replay.Pace{Speed: o.speed, PPS: o.pps, Mbps: o.mbps}
	if o.pps > 0 || o.mbps > 0 {
		pace.Speed = 0
	}
	loop := o.loops
	if loop == 0 {
		loop = replay.LoopForever
	}
	return replay.Config{Pace: pace, Rewrite: rcfg, Segment: rf.segment, Truncate: rf.mtuTrunc, Qdisc: rf.qdisc, Loop: loop, Count: o.count}, nil
}

// replay plays the selection as cfg says: onto the interfaces, or as a
// schedule printed with --display-only.
func (a *app) replay(ctx context.Context, o replayOptions, cfg replay.Config) error {
	sl, err := o.sel.open()
	if err != nil {
		return err
	}
	defer sl.Close()
	sess := sl.sess
	if sess.Packets == 0 {
		if sl.IsStore() {
			return fmt.Errorf("the store holds no packets of the selection")
		}
		return fmt.Errorf("session %d: %w", sess.ID, store.ErrSessionEmpty)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var src replay.Source = sl
	out := bufio.NewWriter(a.stdout)
	defer out.Flush()

	if o.displayOnly {
		sum := decode.NewSummarizerOptions(decode.Options{Quiet: o.view.qflag, Link: o.view.eflag})
		sum.InterfaceName = localInterfaceName()
		view, n := o.view, int64(0)
		view.check()
		err := replay.Preview(ctx, cfg, src, func(rec store.Record, at time.Duration) error {
			prefix := ""
			if id := sl.SessionOf(rec); id != 0 {
				prefix = fmt.Sprintf("%d:", id) // merged sessions: SESSION:N, as query
			}
			prefix += fmt.Sprintf("%d +%.6fs ", rec.Number, at.Seconds())
			n++
			return view.writePacket(out, n, prefix, rec.LinkType, rec.Data, rec.OrigLen, sum.Summary(rec.LinkType, rec.Data, rec.OrigLen))
		})
		if err != nil {
			return err
		}
		out.Flush()
		return a.partialAnswer(sl.Missing(), o.sel.remote.PartialOK)
	}

	outs, err := openReplayOutputs(ctx, sl, o, cfg)
	if err != nil {
		return err
	}
	defer closeReplayOutputs(outs)
	// A running count on a terminal, as capture, import and export show;
	// nothing otherwise.
	bar := newProgress(a.stderr, "replaying")
	defer bar.done()
	if bar.on {
		cfg.Progress = bar.update
	}
	st, err := replay.Run(ctx, cfg, src, outs)
	if err != nil && st.Packets == 0 {
		return err
	}
	// A replay that fails midway (the interface went down, the database
	// broke) still says what it sent, then fails.
	if err := printReplay(out, o, cfg, outs, st, err); err != nil {
		return err
	}
	out.Flush()
	return a.partialAnswer(sl.Missing(), o.sel.remote.PartialOK)
}

// openReplayOutputs opens -i (and -I) to send on, once the selection is
// known to fit them.
func openReplayOutputs(ctx context.Context, sl *selected, o replayOptions, cfg replay.Config) ([]*replay.Output, error) {
	names := []string{o.iface}
	if o.rf.server != "" {
		if o.rf.server == o.iface {
			return nil, fmt.Errorf("-i and -I both name %s: give two interfaces", o.iface)
		}
		names = append(names, o.rf.server)
	}
	lt, err := replay.LinkType(names...)
	if err != nil {
		return nil, err
	}
	if (cfg.Rewrite.SrcMAC != nil || cfg.Rewrite.DstMAC != nil) && lt != rewrite.LinkEthernet {
		return nil, fmt.Errorf("replay onto %s: --srcmac and --dstmac need an Ethernet interface, not %s", o.iface, filter.LinkTypeName(lt))
	}
	if err := linkTypesFit(ctx, sl, o.count, o.iface, lt); err != nil {
		return nil, err
	}
	var outs []*replay.Output
	for _, name := range names {
		out, err := replay.OpenInterface(name, cfg)
		if err != nil {
			closeReplayOutputs(outs)
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func closeReplayOutputs(outs []*replay.Output) {
	for _, o := range outs {
		o.Close()
	}
}

// printReplay prints what a replay did, as text or JSON, and returns
// failed, the error that stopped it early, saying how far it got.
func printReplay(out io.Writer, o replayOptions, cfg replay.Config, outs []*replay.Output, st replay.Stats, failed error) error {
	res := replaySummary{
		Packets: st.Packets, Bytes: st.Bytes, DurationSec: st.Elapsed.Seconds(),
		Skipped: st.Skipped, Unfit: st.Unfit, Split: st.Split, Truncated: st.Truncated, Rewritten: st.Rewritten, Patched: st.Patched,
		ServerPackets: st.ServerPackets, Backward: st.Backward, Retries: st.Retries,
		ErrP50us: us(st.Errors.P50), ErrP99us: us(st.Errors.P99), ErrMaxus: us(st.Errors.Max), DriftUs: us(st.Drift),
		Interrupted: st.Interrupted,
	}
	if res.DurationSec > 0 {
		res.PPS = float64(res.Packets) / res.DurationSec
		res.Mbps = float64(res.Bytes) * 8 / res.DurationSec / 1e6
	}
	if failed != nil {
		failed = fmt.Errorf("replay onto %s stopped after %d packets: %w", o.iface, res.Packets, failed)
		res.Error = failed.Error()
	}
	if o.asJSON {
		if err := json.NewEncoder(out).Encode(res); err != nil {
			return err
		}
		return failed
	}
	fmt.Fprintf(out, "%d packets sent (%s) in %s: %.0f pkt/s, %.2f Mbit/s\n",
		res.Packets, humanBytes(res.Bytes), st.Elapsed.Round(time.Microsecond), res.PPS, res.Mbps)
	if len(outs) > 1 {
		fmt.Fprintf(out, "%d from clients on %s, %d from servers on %s\n", res.Packets-res.ServerPackets, outs[0].Name, res.ServerPackets, outs[1].Name)
	}
	if cfg.Pace.Paced() {
		fmt.Fprintf(out, "schedule error at the sender: p50 %.1fus, p99 %.1fus, max %.1fus; drift %+.1fus\n", res.ErrP50us, res.ErrP99us, res.ErrMaxus, res.DriftUs)
	}
	if res.Retries > 0 {
		fmt.Fprintf(out, "%d sends retried: the interface's queue was full\n", res.Retries)
	}
	if res.Split > 0 {
		fmt.Fprintf(out, "%d %s over the MTU sent as segments or fragments\n", res.Split, plural(res.Split, "packet"))
	}
	if res.Truncated > 0 {
		fmt.Fprintf(out, "%d %s truncated to the MTU\n", res.Truncated, plural(res.Truncated, "packet"))
	}
	if res.Rewritten > 0 {
		fmt.Fprintf(out, "%d %s rewritten", res.Rewritten, plural(res.Rewritten, "packet"))
		if res.Patched > 0 {
			fmt.Fprintf(out, " (%d cut short or fragments: checksums updated for the change only)", res.Patched)
		}
		fmt.Fprintln(out)
	}
	if res.Unfit > 0 {
		fmt.Fprintf(out, "%d packets skipped: of another link type than the interface's, or shorter than its link header\n", res.Unfit)
	}
	if res.Skipped > 0 {
		if cfg.Segment {
			fmt.Fprintf(out, "%d packets skipped: larger than the interface MTU and not splittable (not IP, or cut short by the snaplen)\n", res.Skipped)
		} else {
			fmt.Fprintf(out, "%d packets skipped: larger than the interface MTU\n", res.Skipped)
		}
	}
	if res.Backward > 0 {
		fmt.Fprintf(out, "%d %s went back in time: each was sent without a gap after the one before\n", res.Backward, plural(res.Backward, "timestamp"))
	}
	if res.Interrupted {
		fmt.Fprintln(out, "interrupted")
	}
	return failed
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// linkTypesFit checks that every selected packet has the output
// interface's link type. A session of one link type is checked at once;
// one of several (a merged pcapng) by walking the selection, so that a
// selection of the packets that fit can be replayed.
func linkTypesFit(ctx context.Context, sl *selected, count int64, iface string, lt uint32) error {
	sess := sl.sess
	linkTypes, err := sl.LinkTypes()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(linkTypes, func(l uint32) bool { return l != lt }) {
		return nil
	}
	if len(linkTypes) == 1 {
		return fmt.Errorf("replay onto %s: session %d has link type %s, the interface %s", iface, sess.ID, filter.LinkTypeName(linkTypes[0]), filter.LinkTypeName(lt))
	}
	var bad *store.Record
	err = sl.Walk(ctx, count, func(rec store.Record) error {
		if rec.LinkType != lt {
			bad = &rec
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return err
	}
	if bad != nil {
		return fmt.Errorf("replay onto %s: packet %d of session %d has link type %s, the interface %s: select the packets that fit (--filter, --since/--until)",
			iface, bad.Number, sess.ID, filter.LinkTypeName(bad.LinkType), filter.LinkTypeName(lt))
	}
	return nil
}
