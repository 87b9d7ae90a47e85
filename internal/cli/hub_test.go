package cli_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/netlab"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// freePort is a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hubFleet is a test fleet: PostgreSQL, sensors (real daemons with a
// fleet: block, each recording its own lab's veth), and a hub.
type hubFleet struct {
	dsn       string
	certs     testCerts
	labs      []*netlab.Lab
	socks     [][]*net.UDPConn // each lab's peer sockets, made before PostgreSQL
	sensors   []*daemonProc
	urls      []string
	hub       *background
	hubURL    string
	userToken string // a read token of the hub's users
	bossToken string // read and admin at the hub
	hubSecret string // the hub's token towards the sensors (read)
	dir       string
}

const (
	hubUserSecret = "hub-user-secret"
	hubBossSecret = "hub-boss-secret"
	hubReadSecret = "hub-to-sensors-secret"
)

// startHubFleet starts n sensors (the first over TLS) and a hub. Each
// sensor records udp and closes a segment after 3 s (its summary goes
// to PostgreSQL: the hub asks only the sensors whose closed segments'
// summaries may hold a match).
func startHubFleet(t *testing.T, n int) *hubFleet {
	t.Helper()
	return startHubFleetWith(t, n, func(int) string { return "    filter: udp\n" }, "segment:\n  max_age: 3s\n")
}

// startHubFleetWith is startHubFleet with sensor i's interface keys
// (ifaceKeys(i)) and more configuration (extra) for every sensor.
func startHubFleetWith(t *testing.T, n int, ifaceKeys func(i int) string, extra string) *hubFleet {
	t.Helper()
	testkit.RequireTool(t, "tcpdump")
	f := &hubFleet{certs: makeCerts(t), dir: t.TempDir(), hubSecret: hubReadSecret}
	// The labs and their peer sockets before PostgreSQL: a socket is made
	// on a thread that enters the peer's namespace and then exits, and
	// testkit's PostgreSQL dies with the thread that started it
	// (Pdeathsig).
	for i := range n {
		lab := netlab.New(t, fmt.Sprintf("hb%d", i))
		var ss []*net.UDPConn
		for range 4 {
			ss = append(ss, lab.PeerUDP())
		}
		f.labs, f.socks = append(f.labs, lab), append(f.socks, ss)
	}
	pg := testkit.StartPostgresCluster(t)
	f.dsn = pg.DSN
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(pg.LogFile)
			t.Logf("postgres log:\n%s", b)
			for i, d := range f.sensors {
				t.Logf("sensor s%d:\n%s", i, d.stderr)
			}
		}
	})
	for i, lab := range f.labs {
		port := freePort(t)
		scheme, tlsBlock := "http", ""
		if i == 0 {
			scheme = "https"
			tlsBlock = fmt.Sprintf("tls:\n  cert: %s\n  key: %s\n", f.certs.serverCert, f.certs.serverKey)
		}
		url := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
		cfg := filepath.Join(f.dir, fmt.Sprintf("s%d.yaml", i))
		writeConfig(t, cfg, fmt.Sprintf(`store: %s
interfaces:
  - name: %s
%slisten: 127.0.0.1:%d
%s%stokens:
  - name: tests
    sha256: %x
    scopes: [read, admin, metrics]
%sfleet:
  sensor: s%d
  postgres: "%s"
  url: %s
`, filepath.Join(f.dir, fmt.Sprintf("store%d", i)), lab.HostIf, ifaceKeys(i), port, extra, tlsBlock, sha256.Sum256([]byte(testToken)),
			tokenLine("hub", hubReadSecret, "read", ""), i, f.dsn, url))
		f.sensors = append(f.sensors, startDaemon(t, cfg))
		f.urls = append(f.urls, url)
	}
	f.userToken = f.writeSecret(t, "user-token", hubUserSecret)
	f.bossToken = f.writeSecret(t, "boss-token", hubBossSecret)
	hubToken := f.writeSecret(t, "hub-token", hubReadSecret)
	port := freePort(t)
	f.hubURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(f.dir, "hub.yaml")
	writeConfig(t, cfg, fmt.Sprintf(`listen: 127.0.0.1:%d
postgres: "%s"
sensors:
  token_file: %s
  cacert: %s
tokens:
%s%s`, port, f.dsn, hubToken, f.certs.ca, tokenLine("user", hubUserSecret, "read", ""), tokenLine("boss", hubBossSecret, "read, admin", "")))
	f.hub = start(t, "hub", "--config", cfg)
	f.hub.waitLine(t, "hub listening", 15*time.Second)
	return f
}

func (f *hubFleet) writeSecret(t *testing.T, name, secret string) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sensorArgs are --server arguments for sensor i, with the test token.
func (f *hubFleet) sensorArgs(i int) []string {
	tok := f.writeSecretOnce("tests-token", testToken)
	args := []string{"--server", f.urls[i], "--token-file", tok}
	if strings.HasPrefix(f.urls[i], "https") {
		args = append(args, "--cacert", f.certs.ca)
	}
	return args
}

func (f *hubFleet) writeSecretOnce(name, secret string) string {
	p := filepath.Join(f.dir, name)
	if _, err := os.Stat(p); err != nil {
		os.WriteFile(p, []byte(secret+"\n"), 0o600)
	}
	return p
}

func (f *hubFleet) hubArgs() []string {
	return []string{"--server", f.hubURL, "--token-file", f.userToken}
}

// request asks the hub (or a sensor) with a bearer secret.
func request(t *testing.T, method, url, secret string, body io.Reader, client *http.Client) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+secret)
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tcpdumpLines are tcpdump's lines of a capture file (-tt -nn: the
// epoch time first).
func tcpdumpLines(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", path, "-tt", "-nn").Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v", path, err)
	}
	s := strings.TrimSpace(string(out))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitFlows waits until the hub lists every packet the sensors store in
// flow records (their flows shipped), at most 30 s.
func (f *hubFleet) waitFlows(t *testing.T, stored int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		packets := 0
		// --partial-ok: a sensor that has not yet marked its records
		// shipped is named missing until it does.
		flows, _ := flowsJSON(t, append(f.hubArgs(), "-l", "0", "--partial-ok")...)
		for _, fl := range flows {
			packets += fl.Packets
		}
		if packets == stored {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub lists flows of %d packets, the sensors store %d", packets, stored)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// auditCount is how many packet queries a sensor's audit log shows.
func auditCount(d *daemonProc) int {
	return strings.Count(d.stderr.String(), "path=/api/v1/packets")
}

// TestFaultHubFleet: three daemons in three network namespaces record
// different traffic and ship their flow records and segments to
// PostgreSQL; a hub answers across them. A fleet export equals the union
// of the sensors' own (tcpdump -r), the hub's flows equal tshark's
// conversations of it, a needle query asks only the sensor that holds
// it, Stenographer's /query goes through the hub; the hub's read token
// cannot reach the sensors' admin endpoints, nor does the hub pass them
// on; a sensor with a certificate the hub does not trust is refused and
// named; a sensor killed mid-stream is named in a partial answer, and
// the CLI says so and exits 3 unless --partial-ok.
func TestFaultHubFleet(t *testing.T) {
	testkit.RequireTool(t, "tshark")
	f := startHubFleet(t, 3)
	// Each sensor its own traffic: s0 and s1 a few flows, s1 also the
	// needle, s2 a long flood of big datagrams (the one killed later).
	payload := func(n int) []byte { return make([]byte, n) }
	for i, lab := range f.labs[:2] {
		for k := range 3 {
			udp := f.socks[i][k]
			for range 50 + 10*i {
				udp.WriteToUDP(payload(100), &net.UDPAddr{IP: lab.HostIP, Port: 7000 + k})
			}
		}
	}
	needleUDP := f.socks[1][3]
	needleSrc := needleUDP.LocalAddr().(*net.UDPAddr).Port
	if _, err := needleUDP.WriteToUDP([]byte("needle"), &net.UDPAddr{IP: f.labs[1].HostIP, Port: 7777}); err != nil {
		t.Fatal(err)
	}
	needle := fmt.Sprintf("udp and host %s and src port %d and dst port 7777", f.labs[1].PeerIP, needleSrc)
	{
		udp := f.socks[2][0]
		big := payload(1200)
		for range 20000 {
			udp.WriteToUDP(big, &net.UDPAddr{IP: f.labs[2].HostIP, Port: 7100})
		}
	}
	// Every sensor stores what it was sent (udp: its filter).
	stored := 0
	var counts []int
	for i := range f.sensors {
		want := []int{150, 181, 20000}[i]
		deadline := time.Now().Add(15 * time.Second)
		var n int
		for {
			fmt.Sscan(mustRun(t, append([]string{"query", "--count", "-c", "0"}, f.sensorArgs(i)...)...), &n)
			if n >= want || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if n < want-want/100 { // a flood may lose a datagram or two at the socket
			t.Fatalf("sensor s%d stores %d packets, sent %d", i, n, want)
		}
		stored += n
		counts = append(counts, n)
	}
	f.waitFlows(t, stored)

	// The fleet's export is the union of the sensors' own.
	hubFile := filepath.Join(f.dir, "hub.pcapng")
	mustRun(t, append([]string{"export", "-o", hubFile, "--format", "pcapng"}, f.hubArgs()...)...)
	var union []string
	for i := range f.sensors {
		p := filepath.Join(f.dir, fmt.Sprintf("s%d.pcap", i))
		mustRun(t, append([]string{"export", "-o", p}, f.sensorArgs(i)...)...)
		union = append(union, tcpdumpLines(t, p)...)
	}
	got := tcpdumpLines(t, hubFile)
	if len(got) != stored {
		t.Fatalf("the hub's export holds %d packets, the sensors %d", len(got), stored)
	}
	if !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(strings.Fields(a)[0], strings.Fields(b)[0]) }) {
		t.Errorf("the hub's export is not in time order")
	}
	slices.Sort(got)
	slices.Sort(union)
	if !slices.Equal(got, union) {
		t.Fatalf("tcpdump -r of the hub's export differs from the union of the sensors' (%d and %d lines)", len(got), len(union))
	}
	// Its flows are tshark's conversations of it.
	flows, _ := flowsJSON(t, append(f.hubArgs(), "-l", "0")...)
	compareFlows(t, "hub flows", flows, tsharkConvs(t, hubFile))

	// A needle in the past asks only its sensor.
	time.Sleep(13 * time.Second) // beyond hub.FlowLag: the needle's flow is in PostgreSQL
	before := []int{auditCount(f.sensors[0]), auditCount(f.sensors[1]), auditCount(f.sensors[2])}
	window := []string{"--since", time.Now().Add(-5 * time.Minute).UTC().Format(time.RFC3339), "--until", time.Now().Add(-12 * time.Second).UTC().Format(time.RFC3339)}
	out := mustRun(t, append(append(append([]string{"query", "--json"}, f.hubArgs()...), window...), needle)...)
	var pkt struct {
		Interface, Sensor string
		Len               int
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &pkt) != nil ||
		pkt.Interface != "s1/"+f.labs[1].HostIf {
		t.Fatalf("needle through the hub:\n%s", out)
	}
	after := []int{auditCount(f.sensors[0]), auditCount(f.sensors[1]), auditCount(f.sensors[2])}
	if after[0] != before[0] || after[2] != before[2] || after[1] == before[1] {
		t.Errorf("packet queries on the sensors before the needle %v, after %v: want only s1 asked", before, after)
	}

	// Stenographer's /query through the hub.
	resp := request(t, "POST", f.hubURL+"/query", hubUserSecret,
		strings.NewReader(fmt.Sprintf("host %s and udp port 7777 and after 10m ago", f.labs[1].PeerIP)), nil)
	stenoFile := filepath.Join(f.dir, "steno.pcap")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	os.WriteFile(stenoFile, b, 0o600)
	if resp.StatusCode != 200 || len(tcpdumpLines(t, stenoFile)) != 1 {
		t.Errorf("steno query through the hub: %s, %d packets", resp.Status, len(tcpdumpLines(t, stenoFile)))
	}

	// The hub's read token cannot reach a sensor's admin endpoints, and
	// the hub does not pass them on.
	resp = request(t, "POST", f.urls[1]+"/api/v1/holds", hubReadSecret, strings.NewReader(`{"since":"1h ago","until":"now","reason":"x"}`), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the hub's token on a sensor's POST /api/v1/holds: %s, want 403", resp.Status)
	}
	resp = request(t, "POST", f.hubURL+"/api/v1/holds", hubBossSecret, strings.NewReader(`{"since":"1h ago","until":"now","reason":"x"}`), nil)
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Errorf("POST /api/v1/holds at the hub: %s, want a refusal", resp.Status)
	}

	// Status and sessions name every sensor.
	resp = request(t, "GET", f.hubURL+"/api/v1/status", hubUserSecret, nil, nil)
	var st struct {
		Postgres string `json:"postgres"`
		Sensors  []struct {
			Sensor    string `json:"sensor"`
			Reachable bool   `json:"reachable"`
		} `json:"sensors"`
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Postgres != "ok" || len(st.Sensors) != 3 || !st.Sensors[0].Reachable || !st.Sensors[1].Reachable || !st.Sensors[2].Reachable {
		t.Errorf("hub status %+v", st)
	}

	resp = request(t, "GET", f.hubURL+"/api/v1/sessions", hubUserSecret, nil, nil)
	var recs []struct{ Sensor, Interface string }
	json.NewDecoder(resp.Body).Decode(&recs)
	resp.Body.Close()
	for i, lab := range f.labs {
		if !slices.ContainsFunc(recs, func(r struct{ Sensor, Interface string }) bool {
			return r.Sensor == fmt.Sprintf("s%d", i) && r.Interface == fmt.Sprintf("s%d/%s", i, lab.HostIf)
		}) {
			t.Errorf("hub sessions %+v: no recording of s%d/%s", recs, i, lab.HostIf)
		}
	}

	// A sensor whose certificate the hub does not trust is refused, and
	// named.
	bad := httptest.NewUnstartedServer(http.NotFoundHandler())
	bad.Config.ErrorLog = log.New(io.Discard, "", 0) // its refused handshakes are expected
	bad.StartTLS()
	defer bad.Close()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO prd_sensors (sensor, url, interfaces) VALUES ('bad', $1, '{eth0}')`, bad.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO prd_segments (sensor, interface, segment, first_ns, last_ns, packets, bytes, closed)
		VALUES ('bad', 'eth0', 'x', $1, $2, 1, 100, false)`, time.Now().Add(-time.Hour).UnixNano(), time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	r := run(t, append([]string{"query", "--count", "-c", "0"}, f.hubArgs()...)...)
	if r.code != 3 || !strings.Contains(r.stderr, "sensor bad did not answer") || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("query with a sensor of a bad certificate: exit %d, stderr %q; want 3 and the sensor named", r.code, r.stderr)
	}
	r = run(t, append([]string{"query", "--count", "-c", "0", "--partial-ok"}, f.hubArgs()...)...)
	if r.code != 0 || strings.TrimSpace(r.stdout) != fmt.Sprint(stored) || !strings.Contains(r.stderr, "sensor bad did not answer") {
		t.Errorf("query --partial-ok with a sensor of a bad certificate: exit %d, stdout %q, stderr %q; want 0, %d and the sensor named", r.code, r.stdout, r.stderr, stored)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM prd_segments WHERE sensor = 'bad'`); err != nil {
		t.Fatal(err)
	}
	// It never marked what it shipped: the hub would ask it for every
	// window. Marked caught up, it holds nothing (no segment) and is
	// left out.
	if _, err := conn.Exec(ctx, `UPDATE prd_sensors SET flows_through_ns = $1 WHERE sensor = 'bad'`, time.Now().Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}

	// A sensor killed mid-stream: the answer goes on from the others and
	// names it.
	resp = request(t, "GET", f.hubURL+"/api/v1/packets?format=json&data=true", hubUserSecret, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("hub packets: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if !sc.Scan() {
		t.Fatal("no first packet")
	}
	f.sensors[2].cmd.Process.Signal(syscall.SIGKILL)
	<-f.sensors[2].done
	var end struct {
		End *struct {
			Packets int64 `json:"packets"`
			Missing []struct{ Sensor, Error string }
		} `json:"end"`
		Sensor string `json:"sensor"`
	}
	perSensor := map[string]int{}
	for ok := true; ok; ok = sc.Scan() {
		end.Sensor = ""
		if err := json.Unmarshal(sc.Bytes(), &end); err != nil {
			t.Fatal(err)
		}
		if end.End != nil {
			break
		}
		perSensor[end.Sensor]++
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if end.End == nil || len(end.End.Missing) != 1 || end.End.Missing[0].Sensor != "s2" {
		t.Fatalf("end after s2 was killed: %+v", end.End)
	}
	if perSensor["s2"] >= 20000-200 {
		t.Errorf("%d packets of s2 came though it was killed mid-stream", perSensor["s2"])
	}
	if perSensor["s0"] != counts[0] || perSensor["s1"] != counts[1] {
		t.Errorf("packets per sensor %v: s0 and s1 whole", perSensor)
	}
	if tr := resp.Trailer.Get("Packetrecorder-Partial"); !strings.HasPrefix(tr, "s2: ") {
		t.Errorf("trailer Packetrecorder-Partial %q, want s2 named", tr)
	}
	// The CLI: one line naming it, exit 3; 0 with --partial-ok.
	r = run(t, append([]string{"export", "-o", filepath.Join(f.dir, "partial.pcapng")}, f.hubArgs()...)...)
	if r.code != 3 || strings.Count(r.stderr, "sensor s2 did not answer") != 1 {
		t.Errorf("export with s2 down: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := len(tcpdumpLines(t, filepath.Join(f.dir, "partial.pcapng"))); n != counts[0]+counts[1] {
		t.Errorf("the partial export holds %d packets, want s0's and s1's %d", n, counts[0]+counts[1])
	}
	r = run(t, append([]string{"query", "-c", "0", "--partial-ok"}, f.hubArgs()...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "sensor s2 did not answer") || strings.Count(r.stdout, "\n") != counts[0]+counts[1] {
		t.Errorf("query --partial-ok with s2 down: exit %d, %d lines, stderr %q", r.code, strings.Count(r.stdout, "\n"), r.stderr)
	}
	resp = request(t, "GET", f.hubURL+"/api/v1/status", hubUserSecret, nil, nil)
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if len(st.Sensors) != 4 || st.Sensors[3].Sensor != "s2" || st.Sensors[3].Reachable {
		t.Errorf("hub status with s2 down: %+v", st)
	}
}
