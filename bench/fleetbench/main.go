// Command fleetbench measures a fleet sensor's side of issue #22:
//
//   - Ingest: -flows distinct flow records (made beforehand, as the
//     recorder hands them over) pushed through fleet.Sensor as fast as it
//     takes them: framed into the outbox, fsync'd, read back, COPY'd into
//     PostgreSQL and upserted, one transaction per batch. The rate is
//     records committed per second, from the first record queued to the
//     last one committed (target: 100,000 a second from one sensor).
//   - Latency: a real daemon (the packetrecorder binary, built here)
//     records the loopback interface with a fleet block; -probes times a
//     UDP datagram of a new flow is sent to it, and the time until that
//     flow's row is visible in PostgreSQL is measured (polled every 10 ms;
//     target: under 5 s).
//
// PostgreSQL is a private cluster started here (Debian's postgresql
// package; as root it runs as the postgres user), unless -postgres names
// one. Run from the repository, as root (the daemon captures):
//
//	go run ./bench/fleetbench [-flows 1000000] [-batch 50000] [-parallel 2] [-active 0] [-probes 20] [-postgres DSN]
//	go run ./bench/fleetbench -statements 500000
//
// -active P makes P percent of the flows ship an interim record before
// their final one (an active flow's update). -statements N times
// PostgreSQL's backend alone on each way in (see statements).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/packetrecorderd/packetrecorderd/internal/fleet"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

func main() {
	flows := flag.Int("flows", 1_000_000, "flow records for the ingest measure")
	batch := flag.Int("batch", 50_000, "records per transaction")
	parallel := flag.Int("parallel", fleet.DefaultParallel, "connections shipping at once")
	active := flag.Int("active", 0, "percent of flows that ship an interim record (active, half their packets) before their final one")
	probes := flag.Int("probes", 20, "datagrams of new flows for the latency measure (0: skip it)")
	dsn := flag.String("postgres", "", "PostgreSQL to use (default: a private cluster started here)")
	cpuprofile := flag.String("cpuprofile", "", "write the ingest's CPU profile here")
	stmts := flag.Int("statements", 0, "time PostgreSQL's backend on each way in (plain COPY, staged upsert, indexes, synchronous_commit), this many records each, instead of the ingest")
	flag.Parse()
	log.SetFlags(0)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	tmp, err := os.MkdirTemp("/var/tmp", "fleetbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if *dsn == "" {
		defer func() { pgPID = 0 }()
		base := filepath.Join(tmp, "pg")
		os.Mkdir(base, 0o700)
		// Sized as a database host for ingest is, within this machine.
		pg, err := testkit.LaunchPostgres(base, "shared_buffers=1GB", "wal_buffers=64MB", "max_wal_size=8GB", "checkpoint_timeout=30min")
		if err != nil {
			log.Fatal(err)
		}
		defer pg.Close()
		*dsn = pg.DSN
		pgPID = pg.PID()
	}
	if *stmts > 0 {
		if err := statements(*dsn, *stmts, *batch); err != nil {
			log.Print(err)
		}
		return
	}
	if err := ingest(tmp, *dsn, *flows, *batch, *parallel, *active); err != nil {
		log.Print(err)
		return
	}
	if *probes > 0 {
		if err := latency(tmp, *dsn, *probes); err != nil {
			log.Print(err)
		}
	}
}

// rows makes n distinct flows of one day: UDP from 10.x.y.z:port to
// 192.0.2.1:53, their Community IDs computed as the recorder does.
func rows(n int) []fleet.FlowRow {
	out := make([]fleet.FlowRow, n)
	base := time.Now().Truncate(24 * time.Hour).Add(time.Hour).UnixNano()
	dst := netip.MustParseAddr("192.0.2.1")
	for i := range out {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], 0x0a000000|uint32(i/50000))
		src := netip.AddrFrom4(a)
		sport := uint16(1024 + i%50000)
		k := flow.Key{Src: src, Dst: dst, SrcPort: sport, DstPort: 53, Proto: flow.ProtoUDP, HasPorts: true}
		first := base + int64(i)*1000
		out[i] = fleet.FlowRow{Interface: "eth0", FirstNS: first, LastNS: first + 250_000, CommunityID: k.ID(0).String(), Proto: flow.ProtoUDP,
			Src: src, Dst: dst, SPort: sport, DPort: 53, Packets: [2]uint64{1, 1}, Bytes: [2]uint64{74, 190},
			StoredPackets: 2, StoredBytes: 264, Ended: true, First: true}
	}
	return out
}

// stream is the order records are queued in: each flow's final record,
// and for active percent of them an interim record (not ended, half the
// packets) queued lag records before it, so that the two are in
// different batches. As the recorder marks them, a flow's first record
// says so (First): the final record of a flow without an interim one
// is its only record.
func stream(rs []fleet.FlowRow, active, lag int) []fleet.FlowRow {
	var out []fleet.FlowRow
	for i := range len(rs) + lag {
		if i < len(rs) && i%100 < active {
			r := rs[i]
			r.Ended, r.Packets, r.Bytes, r.LastNS = false, [2]uint64{1, 0}, [2]uint64{74, 0}, r.FirstNS
			out = append(out, r)
		}
		if i >= lag {
			r := rs[i-lag]
			r.First = (i-lag)%100 >= active
			out = append(out, r)
		}
	}
	return out
}

func ingest(tmp, dsn string, n, batch, parallel, active int) error {
	rs := stream(rows(n), active, 2*batch)
	store := filepath.Join(tmp, "ingest")
	s, err := fleet.NewSensor(fleet.Config{Sensor: "bench", Postgres: dsn, URL: "http://127.0.0.1:1", OutboxMax: 4 << 30}, store, []string{"eth0"}, nil)
	if err != nil {
		return err
	}
	s.BatchRecords = batch
	s.Parallel = parallel
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	// Connected, the schema applied and today's partition made, before
	// the clock starts.
	warm := rows(1)
	warm[0].CommunityID = "warm"
	s.Flow(&warm[0])
	if err := waitShipped(s, 1, time.Minute); err != nil {
		return err
	}
	cpu0, pgCPU0 := cpuTime(), serverCPU()
	t0 := time.Now()
	for i := range rs {
		for !s.Flow(&rs[i]) {
			time.Sleep(time.Millisecond) // a full outbox: wait, for the measure
		}
	}
	queued := time.Since(t0)
	if err := waitShipped(s, uint64(len(rs))+1, 10*time.Minute); err != nil {
		return err
	}
	took := time.Since(t0)
	cpu, pgCPU := cpuTime()-cpu0, serverCPU()-pgCPU0
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var got int
	conn.QueryRow(context.Background(), `SELECT count(*) FROM prd_flows WHERE sensor = 'bench'`).Scan(&got)
	m := len(rs)
	fmt.Printf("ingest: %d flow records (%d flows, %d%% with an interim record) in %.2f s = %.0f records/s committed (queued in %.2f s; batches of %d on %d connections); %d rows in prd_flows; the sensor's CPU %.2f µs a record\n",
		m, n, active, took.Seconds(), float64(m)/took.Seconds(), queued.Seconds(), batch, parallel, got, float64(cpu.Microseconds())/float64(m))
	if pgPID != 0 {
		fmt.Printf("ingest: PostgreSQL's CPU %.2f µs a record (its processes' user and system time): %.0f records a second of one core\n",
			float64(pgCPU.Microseconds())/float64(m), float64(m)/pgCPU.Seconds())
	}
	if active > 0 {
		// Every flow's row holds its final record.
		var notFinal int
		conn.QueryRow(context.Background(), `SELECT count(*) FROM prd_flows WHERE sensor = 'bench' AND NOT ended AND community_id <> 'warm'`).Scan(&notFinal)
		if notFinal != 0 {
			return fmt.Errorf("%d rows of prd_flows are not their flow's final record", notFinal)
		}
	}
	if got != n+1 {
		return fmt.Errorf("prd_flows holds %d rows, want %d", got, n+1)
	}
	return nil
}

func waitShipped(s *fleet.Sensor, n uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		st := s.Stats()
		if st.Shipped >= n && st.OutboxRecords == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not shipped within %v: %+v", within, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// latency runs the daemon on the loopback interface and times new flows
// from the datagram sent to the row visible.
func latency(tmp, dsn string, probes int) error {
	bin := filepath.Join(tmp, "packetrecorder")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/packetrecorder").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer ln.Close()
	port := ln.LocalAddr().(*net.UDPAddr).Port
	cfg := filepath.Join(tmp, "daemon.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`store: %s
interfaces:
  - name: lo
    filter: "udp dst port %d"
listen: 127.0.0.1:0
fleet:
  sensor: bench-latency
  postgres: %q
  url: http://127.0.0.1:7474
`, filepath.Join(tmp, "store"), port, dsn)), 0o600)
	cmd := exec.Command(bin, "daemon", "--config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "msg=ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the daemon did not start")
	}
	time.Sleep(500 * time.Millisecond)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var lat []time.Duration
	for i := 0; i < probes; i++ {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return err
		}
		sport := c.LocalAddr().(*net.UDPAddr).Port
		t0 := time.Now()
		c.Write([]byte("probe"))
		c.Close()
		for {
			var n int
			conn.QueryRow(context.Background(), `SELECT count(*) FROM prd_flows WHERE sensor = 'bench-latency' AND sport = $1 AND dport = $2`, sport, port).Scan(&n)
			if n > 0 {
				lat = append(lat, time.Since(t0))
				break
			}
			if time.Since(t0) > 30*time.Second {
				return fmt.Errorf("probe %d: no row within 30 s", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(137*i%1000) * time.Millisecond) // spread over the report interval
	}
	slices.Sort(lat)
	fmt.Printf("latency: datagram sent to its flow row visible, %d probes: median %v, max %v (target under 5 s)\n",
		len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	return nil
}

// cpuTime is this process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgPID is the private cluster's postmaster (0: -postgres named another).
var pgPID int

// serverCPU is the CPU time of the private cluster's processes: the
// postmaster and its children (the sensor's connections among them).
func serverCPU() time.Duration {
	if pgPID == 0 {
		return 0
	}
	var sum time.Duration
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, cpu, ok := procStat(pid); ok && (pid == pgPID || ppid == pgPID) {
			sum += cpu
		}
	}
	return sum
}

// procStat is a process's parent and its CPU time, user and system.
func procStat(pid int) (ppid int, cpu time.Duration, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid ... utime(14) stime(15)
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(u+s) * time.Second / 100, true // USER_HZ
}
