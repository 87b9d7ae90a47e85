package flow

import (
	"testing"
	"time"
)

// A flow's key time (KeyNS) follows its first packet until the flow is
// Reported, then stays: an earlier packet that comes late moves FirstNS
// (the true first packet, as tshark's conversation start) but not the
// key its records were shipped under, so the fleet keeps one row.
func TestKeyNSFixedOnceReported(t *testing.T) {
	ms := int64(time.Millisecond)
	day := int64(24 * time.Hour)
	tb, out := collect(t, Config{IdleTimeout: -1, Linger: -1})
	c, s := "10.0.0.1", "10.0.0.2"
	// Unreported: an earlier packet moves both.
	tb.Add(day+10*ms, tcpPacket(c, s, 5000, 80, SYN), 60)
	f := tb.Add(day+5*ms, tcpPacket(s, c, 80, 5000, SYN|ACK), 60)
	if f.FirstNS != day+5*ms || f.KeyNS != day+5*ms {
		t.Fatalf("unreported flow: first %d key %d, want both %d", f.FirstNS, f.KeyNS, day+5*ms)
	}
	// The recorder gives its record and marks it Reported; a packet
	// from the day before comes late.
	f.Reported = true
	f = tb.Add(day-3*ms, tcpPacket(c, s, 5000, 80, ACK), 54)
	if f.FirstNS != day-3*ms {
		t.Errorf("reported flow: first %d, want the late packet's %d", f.FirstNS, day-3*ms)
	}
	if f.KeyNS != day+5*ms {
		t.Errorf("reported flow: key %d, want %d (its first record's)", f.KeyNS, day+5*ms)
	}
	f = tb.Add(day+20*ms, tcpPacket(c, s, 5000, 80, ACK), 54)
	if f.KeyNS != day+5*ms || f.LastNS != day+20*ms {
		t.Errorf("reported flow: key %d last %d", f.KeyNS, f.LastNS)
	}
	tb.Flush()
	if len(*out) != 1 {
		t.Fatalf("%d flows, want 1", len(*out))
	}
	e := (*out)[0]
	if e.TotalPackets() != 4 || e.FirstNS != day-3*ms || e.KeyNS != day+5*ms || e.LastNS != day+20*ms {
		t.Errorf("ended flow: %d packets, first %d key %d last %d; want 4, %d, %d, %d",
			e.TotalPackets(), e.FirstNS, e.KeyNS, e.LastNS, day-3*ms, day+5*ms, day+20*ms)
	}
	// A flow of the same key made anew after it ended has its own key.
	f = tb.Add(day+30*ms, tcpPacket(c, s, 5000, 80, ACK), 54)
	if f.Reported || f.KeyNS != day+30*ms || f.FirstNS != day+30*ms {
		t.Errorf("new flow: reported %v key %d first %d", f.Reported, f.KeyNS, f.FirstNS)
	}
}
