package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

type replaySummary struct {
	Packets     int64   `json:"packets"`
	Bytes       int64   `json:"bytes"`
	DurationSec float64 `json:"duration_s"`
	PPS         float64 `json:"pps"`
	Mbps        float64 `json:"mbps"`
	Skipped     int64   `json:"skipped_oversize"`
	Backward    int64   `json:"backward_jumps"` // packets whose timestamp went back: played without a gap
	Retries     uint64  `json:"send_retries"`
	ErrP50us    float64 `json:"schedule_error_p50_us"`
	ErrP99us    float64 `json:"schedule_error_p99_us"`
	ErrMaxus    float64 `json:"schedule_error_max_us"`
	DriftUs     float64 `json:"drift_us"`
	Interrupted bool    `json:"interrupted"`
	Error       string  `json:"error,omitempty"` // why the replay stopped early
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
	)
	cmd := &cobra.Command{
		Use:   "replay (-s ID | -d STORE [--source-interface IF]) [-i IFACE] [flags]",
		Short: "Send a session's packets onto an interface with their original timing",
		Example: `  packetrecorder replay -s 1 -i veth0
  packetrecorder replay -s 1 --speed 0        # as fast as possible
  packetrecorder replay -s 1 --display-only   # show the schedule, send nothing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
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
			retries := func() uint64 { return 0 }
			var skippedBytes int64
			var send func(store.Record) error
			finish := func() error { return nil } // sends what is still queued
			out := bufio.NewWriter(a.stdout)
			defer out.Flush()
			if displayOnly {
				sum := decode.NewSummarizer()
				sum.InterfaceName = localInterfaceName()
				send = func(rec store.Record) error {
					at := sched.Offset(rec.Timestamp, len(rec.Data))
					fmt.Fprintf(out, "%d +%.6fs %s\n", rec.Number, at.Seconds(), sum.Summary(rec.LinkType, rec.Data, rec.OrigLen))
					return nil
				}
			} else {
				if iface == "" {
					iface = sess.Interface
				}
				if iface == "" {
					return fmt.Errorf("session %d has no interface: give one with -i", sess.ID)
				}
				if iface == capture.AnyDevice {
					return fmt.Errorf("replay onto %s: the %q device only captures: give a real interface with -i", iface, capture.AnyDevice)
				}
				lt, err := capture.LinkTypeOf(iface)
				if err != nil {
					return fmt.Errorf("replay onto %s: %w", iface, err)
				}
				if err := linkTypesFit(ctx, sl, count, iface, lt); err != nil {
					return err
				}
				skip := func(rec store.Record) {
					res.Skipped++
					skippedBytes += int64(len(rec.Data))
				}
				if pace.Paced() {
					// Paced frames leave one by one at their deadlines,
					// each timed by the driver where it can.
					sender, err := capture.OpenTimedSender(iface)
					if err != nil {
						return fmt.Errorf("replay onto %s: %w", iface, err)
					}
					defer sender.Close()
					sched.Prime = sender.Prime
					send = func(rec store.Record) error {
						if len(rec.Data) > sender.MaxFrame() {
							skip(rec)
							return nil
						}
						slot, err := sched.Wait(ctx, rec.Timestamp, len(rec.Data))
						if err != nil {
							return err
						}
						if err := sender.Send(rec.Data, slot.Measure); errors.Is(err, capture.ErrFrameTooBig) {
							skip(rec)
							return nil
						} else if err != nil {
							return err
						}
						at, ok := time.Time{}, false
						if slot.Measure {
							at, ok = sender.Stamp()
						}
						sched.Sent(slot, at, ok)
						return nil
					}
					retries = func() uint64 { return sender.Stats().Retries }
				} else {
					// At top speed frames are queued in the transmit ring
					// and handed to the kernel in batches.
					sender, err := capture.OpenSender(iface)
					if err != nil {
						return fmt.Errorf("replay onto %s: %w", iface, err)
					}
					defer sender.Close()
					const batch = 256
					queued := 0
					send = func(rec store.Record) error {
						if err := ctx.Err(); err != nil {
							return err
						}
						sched.Offset(rec.Timestamp, len(rec.Data)) // anchors the start
						err := sender.Queue(rec.Data)
						if err == nil {
							if queued++; queued == batch {
								queued, err = 0, sender.Flush()
							}
						}
						if errors.Is(err, capture.ErrFrameTooBig) {
							skip(rec)
							return nil
						}
						return err
					}
					finish = sender.Flush
					retries = func() uint64 { return sender.Stats().Retries }
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
					sched.NextLoop()
					pass = b.pass
				}
				for _, rec := range b.recs {
					if err = send(rec); err != nil {
						break play
					}
					if !displayOnly {
						res.Packets++
						res.Bytes += int64(len(rec.Data))
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
			res.Retries = retries()
			res.Packets -= res.Skipped
			res.Bytes -= skippedBytes
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
			if pace.Paced() {
				fmt.Fprintf(out, "schedule error at the sender: p50 %.1fus, p99 %.1fus, max %.1fus; drift %+.1fus\n", res.ErrP50us, res.ErrP99us, res.ErrMaxus, res.DriftUs)
			}
			if res.Retries > 0 {
				fmt.Fprintf(out, "%d sends retried: the interface's queue was full\n", res.Retries)
			}
			if res.Skipped > 0 {
				fmt.Fprintf(out, "%d packets skipped: larger than the interface MTU\n", res.Skipped)
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
	cmd.Flags().StringVarP(&iface, "interface", "i", "", "interface to send on (default: the session's)")
	cmd.Flags().Float64Var(&speed, "speed", 1, "timing multiplier: 2 = twice as fast, 0 = as fast as possible")
	cmd.Flags().Float64Var(&pps, "pps", 0, "send at this many packets per second instead of the recorded timing")
	cmd.Flags().Float64Var(&mbps, "mbps", 0, "send at this many megabits per second instead of the recorded timing")
	cmd.Flags().Int64Var(&loops, "loop", 1, "play the packets this many times (0 = until interrupted)")
	cmd.Flags().Int64VarP(&count, "count", "c", 0, "send at most this many packets in all (0 = no limit)")
	cmd.Flags().BoolVar(&displayOnly, "display-only", false, "print each packet with its scheduled time; send nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
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
