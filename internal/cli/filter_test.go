package cli_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// TestFilterCommandMatchesTcpdump: `filter -d/-dd/-ddd` prints what
// `tcpdump -O` prints (our programs are libpcap's unoptimized ones), for a
// savefile link type and, with --live, for a live socket on lo.
func TestFilterCommandMatchesTcpdump(t *testing.T) {
	testkit.RequireTool(t, "tcpdump")
	exprs := []string{"tcp port 80", "host 10.0.0.1 and not udp", "vlan 100 and ip", "icmp[icmptype] = icmp-echo", "tcp[tcpflags] & tcp-syn != 0 or ip6 and tcp port 22"}
	for _, e := range exprs {
		for _, f := range []string{"-d", "-dd", "-ddd"} {
			want, err := exec.Command("tcpdump", "-O", f, "-y", "EN10MB", e).Output()
			if err != nil {
				t.Fatalf("tcpdump %s %q: %v", f, e, err)
			}
			if got := mustRun(t, "filter", f, e); got != string(want) {
				t.Errorf("filter %s %q:\n%s\ntcpdump:\n%s", f, e, got, want)
			}
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("PRD_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("the --live comparison needs root to open lo with tcpdump")
		}
		t.Skip("the --live comparison needs root to open lo with tcpdump")
	}
	for _, e := range []string{"vlan 100 and ip", "inbound and tcp", "vlan and vlan 200"} {
		want, err := exec.Command("tcpdump", "-O", "-d", "-i", "lo", e).Output()
		if err != nil {
			t.Fatalf("tcpdump -i lo %q: %v", e, err)
		}
		if got := mustRun(t, "filter", "--live", "-d", e); got != string(want) {
			t.Errorf("filter --live %q:\n%s\ntcpdump -i lo:\n%s", e, got, want)
		}
	}
}
