package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
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

// replayOutput is one interface a replay sends on: a TimedSender when
// paced, a transmit ring at top speed.
type replayOutput struct {
	name   string
	mtu    int // largest IP packet
	timed  *capture.TimedSender
	ring   *capture.Sender
	queued int
	seg    *rewrite.Segmenter
}

func (o *replayOutput) retries() uint64 {
	if o.timed != nil {
		return o.timed.Stats().Retries
	}
	return o.ring.Stats().Retries
}

func (o *replayOutput) close() {
	if o.timed != nil {
		o.timed.Close()
	}
	if o.ring != nil {
		o.ring.Close()
	}
}

// qdiscBypass is implemented by capture's senders that can be told to
// send through the qdisc layer instead of around it.
type qdiscBypass interface{ SetQdiscBypass(on bool) error }

// throughQdisc makes sender s send through the qdisc layer.
func throughQdisc(name string, s any) error {
	q, ok := s.(qdiscBypass)
	if !ok {
		return fmt.Errorf("replay onto %s: --qdisc is not supported by this build (capture's senders lack SetQdiscBypass)", name)
	}
	if err := q.SetQdiscBypass(false); err != nil {
		return fmt.Errorf("replay onto %s: --qdisc: %w", name, err)
	}
	return nil
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
	var err error
	set := func(name string) bool { return cmd.Flags().Changed(name) }
	if set("srcmac") {
		if cfg.SrcMAC, err = rewrite.ParseMAC(f.srcMAC); err != nil {
			return cfg, fmt.Errorf("--srcmac: %w", err)
		}
	}
	if set("dstmac") {
		if cfg.DstMAC, err = rewrite.ParseMAC(f.dstMAC); err != nil {
			return cfg, fmt.Errorf("--dstmac: %w", err)
		}
	}
	if set("srcip") {
		if cfg.SrcIP, err = rewrite.ParseIPMaps(f.srcIP); err != nil {
			return cfg, fmt.Errorf("--srcip: %w", err)
		}
	}
	if set("dstip") {
		if cfg.DstIP, err = rewrite.ParseIPMaps(f.dstIP); err != nil {
			return cfg, fmt.Errorf("--dstip: %w", err)
		}
	}
	if set("portmap") {
		if cfg.Ports, err = rewrite.ParsePortMap(f.portMap); err != nil {
			return cfg, fmt.Errorf("--portmap: %w", err)
		}
	}
	return cfg, nil
}

func (a *app) replayCmd() *cobra.Command {
	var (
		sel         selection
		iface       string
		speed       float64
		pps, mbps   float64
		loops       int64
		count       int64
		displayOnly bool
		asJSON      bool
		rf          replayFlags
	)
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
			if err := sel.filterArgs(args); err != nil {
				return err
			}
			switch {
			case cmd.Flags().Changed("speed") && (pps > 0 || mbps > 0):
				return errors.New("give --speed or a rate (--pps, --mbps), not both")
			case speed < 0:
				return fmt.Errorf("invalid speed %g: must be 0 (as fast as possible) or more", speed)
			case pps < 0 || mbps < 0:
				return errors.New("invalid rate: --pps and --mbps must be positive")
			case pps > 0 && mbps > 0:
				return errors.New("give --pps or --mbps, not both")
			case count < 0:
				return fmt.Errorf("invalid count %d: must be 0 (all) or more", count)
			case loops < 0:
				return fmt.Errorf("invalid loop count %d: must be 0 (until interrupted) or more", loops)
			case rf.segment && rf.mtuTrunc:
				return errors.New("give --segment or --mtu-trunc, not both")
			case displayOnly && (rf.segment || rf.mtuTrunc || rf.qdisc || rf.server != ""):
				return errors.New("--display-only sends nothing: --segment, --mtu-trunc, --qdisc and -I do not apply")
			case !displayOnly && iface == "":
				// Never onto the recorded interface unasked: it may be a
				// production link.
				return errors.New("replay sends only onto the interface -i names, as tcpreplay -i: give -i IFACE (or --display-only to send nothing)")
			}
			rcfg, err := rf.rewriteConfig(cmd)
			if err != nil {
				return err
			}
			var rw *rewrite.Rewriter
			if rcfg.Active() {
				rw = rewrite.New(rcfg)
			}
			pace := replay.Pace{Speed: speed, PPS: pps, Mbps: mbps}
			if pps > 0 || mbps > 0 {
				pace.Speed = 0
			}
			sl, err := sel.open()
			if err != nil {
				return err
			}
			defer sl.Close()
			sess := sl.sess
			if sess.Packets == 0 {
				if sl.store() {
					return fmt.Errorf("the store holds no packets of the selection")
				}
				return fmt.Errorf("session %d: %w", sess.ID, store.ErrSessionEmpty)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()

			sched := replay.NewScheduler(nil, pace)
			if pace.Paced() && !displayOnly {
				defer replay.LockThread()()
			}
			var res replaySummary
			var send func(store.Record) error
			finish := func() error { return nil } // sends what is still queued
			var outs []*replayOutput
			out := bufio.NewWriter(a.stdout)
			defer out.Flush()
			if displayOnly {
				sum := decode.NewSummarizer()
				sum.InterfaceName = localInterfaceName()
				send = func(rec store.Record) error {
					if rw != nil {
						rw.Apply(rec.LinkType, rec.Data)
					}
					at := sched.Offset(rec.Timestamp, len(rec.Data))
					if id := sl.sessionOf(rec); id != 0 {
						fmt.Fprintf(out, "%d:", id) // merged sessions: SESSION:N, as query
					}
					fmt.Fprintf(out, "%d +%.6fs %s\n", rec.Number, at.Seconds(), sum.Summary(rec.LinkType, rec.Data, rec.OrigLen))
					return nil
				}
			} else {
				names := []string{iface}
				if rf.server != "" {
					if rf.server == iface {
						return fmt.Errorf("-i and -I both name %s: give two interfaces", iface)
					}
					names = append(names, rf.server)
				}
				var lt uint32
				for i, name := range names {
					if name == capture.AnyDevice {
						return fmt.Errorf("replay onto %s: the %q device only captures: give a real interface with -i", name, capture.AnyDevice)
					}
					l, err := capture.LinkTypeOf(name)
					if err != nil {
						return fmt.Errorf("replay onto %s: %w", name, err)
					}
					if i == 0 {
						lt = l
					} else if l != lt {
						return fmt.Errorf("replay onto %s and %s: link types %s and %s differ", iface, name, filter.LinkTypeName(lt), filter.LinkTypeName(l))
					}
				}
				if (rcfg.SrcMAC != nil || rcfg.DstMAC != nil) && lt != rewrite.LinkEthernet {
					return fmt.Errorf("replay onto %s: --srcmac and --dstmac need an Ethernet interface, not %s", iface, filter.LinkTypeName(lt))
				}
				if err := linkTypesFit(ctx, sl, count, iface, lt); err != nil {
					return err
				}
				for _, name := range names {
					o := &replayOutput{name: name}
					outs = append(outs, o)
					defer o.close()
					if rf.segment || rf.mtuTrunc {
						ifi, err := net.InterfaceByName(name)
						if err != nil {
							return fmt.Errorf("replay onto %s: %w", name, err)
						}
						o.mtu = ifi.MTU
						if rf.segment {
							o.seg = rewrite.NewSegmenter(o.mtu)
						}
					}
					var s any
					if pace.Paced() {
						// Paced frames leave one by one at their deadlines,
						// each timed by the driver where it can.
						o.timed, err = capture.OpenTimedSender(name)
						s = o.timed
					} else {
						// At top speed frames are queued in the transmit ring
						// and handed to the kernel in batches.
						o.ring, err = capture.OpenSender(name)
						s = o.ring
					}
					if err != nil {
						return fmt.Errorf("replay onto %s: %w", name, err)
					}
					if rf.qdisc {
						if err := throughQdisc(name, s); err != nil {
							return err
						}
					}
				}
				var sides *replay.Sides
				if len(outs) > 1 {
					sides = replay.NewSides()
				}
				cur := outs[0] // where the frame being scheduled goes
				if pace.Paced() {
					sched.Prime = func(size int) { cur.timed.Prime(size) }
				}
				// A running count on a terminal, as capture, import and
				// export show; nothing otherwise.
				bar := newProgress(a.stderr, "replaying")
				defer bar.done()
				sent := func(frame []byte) {
					res.Packets++
					res.Bytes += int64(len(frame))
					if bar.on && res.Packets&0xff == 0 {
						bar.update(int64(res.Packets), res.Bytes)
					}
					if cur != outs[0] {
						res.ServerPackets++
					}
				}
				// emit sends one frame on cur, due at ts; a frame the
				// interface refuses as too big is skipped and counted.
				var emit func(ts int64, frame []byte) error
				if pace.Paced() {
					emit = func(ts int64, frame []byte) error {
						if len(frame) > cur.timed.MaxFrame() {
							res.Skipped++
							return nil
						}
						slot, err := sched.Wait(ctx, ts, len(frame))
						if err != nil {
							return err
						}
						if err := cur.timed.Send(frame, slot.Measure); errors.Is(err, capture.ErrFrameTooBig) {
							res.Skipped++
							return nil
						} else if err != nil {
							return err
						}
						at, ok := time.Time{}, false
						if slot.Measure {
							at, ok = cur.timed.Stamp()
						}
						sched.Sent(slot, at, ok)
						sent(frame)
						return nil
					}
				} else {
					const batch = 256
					emit = func(ts int64, frame []byte) error {
						if err := ctx.Err(); err != nil {
							return err
						}
						sched.Offset(ts, len(frame)) // anchors the start
						err := cur.ring.Queue(frame)
						if err == nil {
							sent(frame)
							if cur.queued++; cur.queued == batch {
								cur.queued, err = 0, cur.ring.Flush()
							}
						}
						if errors.Is(err, capture.ErrFrameTooBig) {
							res.Skipped++
							return nil
						}
						return err
					}
					finish = func() error {
						var errs []error
						for _, o := range outs {
							errs = append(errs, o.ring.Flush())
						}
						return errors.Join(errs...)
					}
				}
				// The segments of a split frame after the first wait for the
				// next frame's timestamp: they are spread over the frame's
				// time slot, the gap to the next frame.
				var pending [][]byte
				var pendingOut *replayOutput
				var pendingTS int64
				flush := func(next int64) error {
					if len(pending) == 0 {
						return nil
					}
					gap, n := max(next-pendingTS, 0), int64(len(pending)+1)
					segs := pending
					pending, cur = nil, pendingOut
					for k, seg := range segs {
						i := int64(k + 1)
						if err := emit(pendingTS+gap/n*i+gap%n*i/n, seg); err != nil {
							return err
						}
					}
					return nil
				}
				var before []byte // a frame as stored, to tell what rewriting changed
				send = func(rec store.Record) error {
					if err := flush(rec.Timestamp); err != nil {
						return err
					}
					cur = outs[0]
					if sides != nil && sides.Of(rec.LinkType, rec.Data) == replay.Server {
						cur = outs[1]
					}
					changed, patched := false, false
					if rw != nil {
						before = append(before[:0], rec.Data...)
						p0 := rw.Stats().Patched
						rw.Apply(rec.LinkType, rec.Data)
						changed = !bytes.Equal(before, rec.Data)
						patched = changed && rw.Stats().Patched > p0
					}
					if changed {
						// Counted once the packet is sent, not when skipped.
						sentBefore := res.Packets
						defer func() {
							if res.Packets > sentBefore {
								res.Rewritten++
								if patched {
									res.Patched++
								}
							}
						}()
					}
					frame := rec.Data
					switch {
					case cur.seg != nil && !cur.seg.Fits(rec.LinkType, frame):
						segs, err := cur.seg.Split(rec.LinkType, frame)
						if err != nil {
							res.Skipped++
							return nil
						}
						res.Split++
						pending, pendingOut, pendingTS = segs[1:], cur, rec.Timestamp
						frame = segs[0]
					case rf.mtuTrunc:
						if f := rewrite.Truncate(rec.LinkType, frame, cur.mtu); len(f) < len(frame) {
							res.Truncated++
							frame = f
						}
					}
					return emit(rec.Timestamp, frame)
				}
				done := finish
				finish = func() error {
					err := flush(pendingTS)
					return errors.Join(err, done())
				}
			}
			if displayOnly {
				loops = 1
			}
			// Packets come from a reader goroutine, read ahead of the
			// sender, which never waits for the disk or the filter.
			ra := startReadAhead(ctx, sl, loops, count)
			pass := int64(0)
		play:
			for b := range ra.batches {
				if b.pass != pass {
					// The last frame's segments belong to the pass before.
					if err = finish(); err != nil {
						break
					}
					sched.NextLoop()
					pass = b.pass
				}
				for _, rec := range b.recs {
					if err = send(rec); err != nil {
						break play
					}
				}
				ra.done(b)
			}
			if rerr := ra.stop(); err == nil {
				err = rerr
			}
			if ferr := finish(); err == nil {
				err = ferr
			}
			if errors.Is(err, context.Canceled) {
				res.Interrupted, err = true, nil
			}
			if err != nil && (displayOnly || res.Packets == 0) {
				return err
			}
			if displayOnly {
				return nil
			}
			// A replay that fails midway (the interface went down, the
			// database broke) still says what it sent, then fails.
			failed := err
			elapsed := time.Duration(0)
			if !sched.Start().IsZero() {
				elapsed = time.Since(sched.Start())
			}
			for _, o := range outs {
				res.Retries += o.retries()
			}
			res.DurationSec = elapsed.Seconds()
			if res.DurationSec > 0 {
				res.PPS = float64(res.Packets) / res.DurationSec
				res.Mbps = float64(res.Bytes) * 8 / res.DurationSec / 1e6
			}
			se := sched.Errors()
			res.ErrP50us, res.ErrP99us, res.ErrMaxus = us(se.P50), us(se.P99), us(se.Max)
			res.DriftUs = us(sched.Drift())
			res.Backward = sched.BackwardJumps()
			if failed != nil {
				failed = fmt.Errorf("replay onto %s stopped after %d packets: %w", iface, res.Packets, failed)
				res.Error = failed.Error()
			}
			if asJSON {
				if err := json.NewEncoder(out).Encode(res); err != nil {
					return err
				}
				return failed
			}
			fmt.Fprintf(out, "%d packets sent (%s) in %s: %.0f pkt/s, %.2f Mbit/s\n",
				res.Packets, humanBytes(res.Bytes), elapsed.Round(time.Microsecond), res.PPS, res.Mbps)
			if len(outs) > 1 {
				fmt.Fprintf(out, "%d from clients on %s, %d from servers on %s\n", res.Packets-res.ServerPackets, outs[0].name, res.ServerPackets, outs[1].name)
			}
			if pace.Paced() {
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
			if res.Skipped > 0 {
				if rf.segment {
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
		},
	}
	sel.addFlags(cmd)
	f := cmd.Flags()
	f.StringVarP(&iface, "interface", "i", "", "interface to send on (required unless --display-only); with -I, the clients' packets")
	f.StringVarP(&rf.server, "server-interface", "I", "", "send the servers' packets on this interface and the clients' on -i (client: the sender of a flow's SYN, else the higher port)")
	f.Float64Var(&speed, "speed", 1, "timing multiplier: 2 = twice as fast, 0 = as fast as possible")
	f.Float64Var(&pps, "pps", 0, "send at this many packets per second instead of the recorded timing")
	f.Float64Var(&mbps, "mbps", 0, "send at this many megabits per second instead of the recorded timing")
	f.Int64Var(&loops, "loop", 1, "play the packets this many times (0 = until interrupted)")
	addMaxPacketsFlag(cmd, &count, 0, "stop after this many packets, all loops together (0 = no limit), as tcpdump -c")
	f.BoolVar(&displayOnly, "display-only", false, "print each packet with its scheduled time; send nothing")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	f.BoolVar(&rf.segment, "segment", false, "split IP packets over the MTU (GRO/TSO frames) as TSO would: TCP into segments, others into fragments, spread over the gap to the next frame")
	f.BoolVar(&rf.mtuTrunc, "mtu-trunc", false, "truncate IP packets over the MTU to the MTU (as tcpreplay), fixing lengths and checksums")
	f.BoolVar(&rf.qdisc, "qdisc", false, "send through the interface's qdisc (tc, netem and tcpdump -Q out apply) instead of around it, at some cost in timing precision")
	f.BoolVar(&rf.fixCsum, "fixcsum", false, "recompute the IPv4, TCP, UDP, ICMP and ICMPv6 checksums of every packet")
	f.StringVar(&rf.srcMAC, "srcmac", "", "set the Ethernet source address of every packet")
	f.StringVar(&rf.dstMAC, "dstmac", "", "set the Ethernet destination address of every packet")
	f.StringVar(&rf.srcIP, "srcip", "", "map source addresses, CIDR to CIDR keeping the host bits: 10.0.0.0/8:192.168.0.0/16[,...] (IPv6 alike)")
	f.StringVar(&rf.dstIP, "dstip", "", "map destination addresses, as --srcip")
	f.StringVar(&rf.portMap, "portmap", "", "map TCP and UDP ports, source and destination: 80:8080[,443:8443...]")
	return cmd
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// linkTypesFit checks that every selected packet has the output
// interface's link type. A session of one link type is checked at once;
// one of several (a merged pcapng) by walking the selection, so that a
// selection of the packets that fit can be replayed.
func linkTypesFit(ctx context.Context, sl *selected, count int64, iface string, lt uint32) error {
	sess := sl.sess
	linkTypes, err := sl.linkTypes()
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
	err = sl.walk(ctx, count, func(rec store.Record) error {
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
