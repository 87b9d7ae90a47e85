// Command gaps compares the timing of a replay, as captured at the far end,
// with the original capture: for each pair of consecutive packets it takes
// the received gap minus the original gap divided by the speed, and prints
// the median and 99th percentile of the absolute error, the error of the
// whole replay's duration, and how many packets arrived.
//
//	gaps ORIGINAL.pcap RECEIVED.pcap SPEED
package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
)

func timestamps(path string) ([]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapio.NewReader(f)
	if err != nil {
		return nil, err
	}
	var ts []int64
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ts, nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return ts, nil // a capture stopped mid-record
		}
		if err != nil {
			return ts, err
		}
		ts = append(ts, p.Timestamp)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gaps ORIGINAL.pcap RECEIVED.pcap SPEED")
		os.Exit(2)
	}
	orig, err := timestamps(os.Args[1])
	if err == nil && len(orig) < 2 {
		err = errors.New("original has fewer than 2 packets")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gaps:", err)
		os.Exit(1)
	}
	recv, err := timestamps(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gaps:", err)
		os.Exit(1)
	}
	speed, err := strconv.ParseFloat(os.Args[3], 64)
	if err != nil || speed <= 0 {
		fmt.Fprintln(os.Stderr, "gaps: bad speed")
		os.Exit(2)
	}
	n := min(len(orig), len(recv))
	var errs []float64
	for i := 1; i < n; i++ {
		want := float64(orig[i]-orig[i-1]) / speed
		got := float64(recv[i] - recv[i-1])
		errs = append(errs, math.Abs(got-want)/1e3)
	}
	slices.Sort(errs)
	q := func(p float64) float64 {
		if len(errs) == 0 {
			return math.NaN()
		}
		return errs[int(p*float64(len(errs)-1))]
	}
	wantDur := float64(orig[n-1]-orig[0]) / speed
	gotDur := float64(recv[n-1] - recv[0])
	fmt.Printf("received %d/%d median_us %.2f p99_us %.2f max_us %.1f duration_err_pct %.4f\n",
		len(recv), len(orig), q(0.5), q(0.99), q(1), (gotDur-wantDur)/wantDur*100)
}
